"""report.html in headless Chromium, on a realistic export (the real one when it is beside the checkout): the page
is set in a sans-serif font, numeric columns are right-aligned under right-aligned headers in words, and the charts
of counts never go below zero."""
from __future__ import annotations

import os
import shutil

import pytest

import reports
import settings as settings_mod
from db.engine import make_engine
from reports.columns import COLUMNS

pytestmark = pytest.mark.browser

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,900")


@pytest.fixture(scope="module")
def browser(realistic_db, tmp_path_factory):
    """A headless Chromium showing the realistic export's report.html."""
    missing = [b for b in ("chromium", "chromedriver") if not shutil.which(b)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (make test installs chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    engine = make_engine(realistic_db, readonly=True)
    try:
        [path] = reports.build("html", engine, settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db),
                               tmp_path_factory.mktemp("html"))
    finally:
        engine.dispose()
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    try:
        driver.get(path.as_uri())
        driver.execute_script("return document.fonts.ready")
        yield driver
    finally:
        driver.quit()


def test_the_page_is_set_in_a_sans_serif_font(browser):
    for selector in ("body", "h1", "table td", ".kpi .value"):
        family = browser.execute_script(f"return getComputedStyle(document.querySelector('{selector}')).fontFamily")
        assert family.startswith("system-ui") and family.endswith("sans-serif"), (selector, family)


def test_numbers_are_right_aligned_under_headers_in_words(browser):
    cells = browser.execute_script("""
        return Array.from(document.querySelectorAll('table[data-table] th')).map(th => [
            th.closest('table').dataset.table, th.dataset.col, th.textContent, getComputedStyle(th).textAlign]);""")
    assert cells
    for table, col, label, align in cells:
        assert label == COLUMNS[col].label, (table, col, label)
        numeric = COLUMNS[col].kind in ("money", "int", "float")
        assert align == ("right" if numeric else "left"), (table, col, align)
    aligned = browser.execute_script("""
        return Array.from(document.querySelectorAll('td[data-col="closing_balance"]')).map(
            td => [getComputedStyle(td).textAlign, getComputedStyle(td).fontVariantNumeric]);""")
    assert aligned and set(map(tuple, aligned)) == {("right", "tabular-nums")}


def test_charts_of_counts_never_go_below_zero(browser):
    ranges = browser.execute_script("""
        return Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => [p._fullLayout.title.text,
            p._fullLayout.yaxis.range, p._fullLayout.yaxis2 ? p._fullLayout.yaxis2.range : null]);""")
    by_title = {title: (y, y2) for title, y, y2 in ranges}
    cold_starts, invocations = by_title["Cold starts and invocations per day"]
    assert cold_starts[0] == 0 and invocations[0] == 0  # both axes start at zero
    for title in ("Issues first seen per day, by kind", "Anomalies by detector and severity"):
        assert by_title[title][0][0] >= 0, title
