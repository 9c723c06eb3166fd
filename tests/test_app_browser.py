"""The dashboard in headless Chromium (dash[testing]): every tab renders with data, a filter changes what is
shown, the reconciliation CSV downloads whole, a click opens a user's ledger, an empty database is friendly,
and nothing is fetched from outside the app.

Screenshots of every tab are taken on the sample export; set BALANCE_LOGS_SCREENSHOTS=docs/screenshots to
write them there (the README shows those), else they go to the test's temporary folder.
"""
from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import settings as settings_mod
import queries as q
from app import create_app
from db.engine import make_engine
from settings import ROOT

pytestmark = pytest.mark.browser

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,1000")
TABS = ("trends", "overdrafts", "reconciliation", "anomalies", "health")
TIMEOUT = 20


def _chrome_options():
    from selenium.webdriver.chrome.options import Options
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    return options


@pytest.fixture(scope="module")
def chromium():
    missing = [b for b in ("chromium", "chromedriver") if not shutil.which(b)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (make test installs chromium and chromium-driver)")


def _composite(server, download_path):
    from dash.testing.composite import DashComposite
    return DashComposite(server=server, browser="Chrome", headless=True, options=[_chrome_options()],
                         download_path=str(download_path), percy_run=False, wait_timeout=TIMEOUT)


@pytest.fixture
def dash_duo(chromium, dash_thread_server, tmp_path):
    """dash[testing]'s dash_duo, with the Chromium flags this machine needs (headless, no sandbox, …)."""
    with _composite(dash_thread_server, tmp_path) as duo:
        yield duo


@pytest.fixture(scope="module")
def sample_duo(chromium, sample_db, tmp_path_factory):
    """One browser and one app on the sample export, shared by the tests of this module (fast)."""
    from dash.testing.application_runners import ThreadedRunner
    settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=sample_db)
    with ThreadedRunner() as server:
        with _composite(server, tmp_path_factory.mktemp("download")) as duo:
            duo.start_server(create_app(settings))
            duo.engine = make_engine(sample_db, readonly=True)
            yield duo


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("BALANCE_LOGS_SCREENSHOTS")
    path = (ROOT / target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- helpers -------------------------------------------------------------------------------------

def settle(duo, timeout: float = TIMEOUT) -> None:
    """Wait until no callback is running, every graph is drawn and every grid shows rows or its empty overlay."""
    script = """
      const busy = document.querySelectorAll('[data-dash-is-loading="true"]').length;
      const graphs = document.querySelectorAll('.dash-graph').length;
      const drawn = document.querySelectorAll('.dash-graph .main-svg').length;
      const grids = document.querySelectorAll('.data-grid').length;
      let ready = 0;
      document.querySelectorAll('.data-grid').forEach(g => {
        if (g.querySelector('.ag-center-cols-container .ag-row .ag-cell')
            || g.querySelector('.ag-overlay-no-rows-center, .ag-overlay-no-rows-wrapper')) ready += 1;
      });
      return busy === 0 && drawn >= graphs && ready === grids && document.querySelector('#page') !== null
             && document.querySelector('#page').children.length > 0;
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        if duo.driver.execute_script(script):
            time.sleep(0.3)
            if duo.driver.execute_script(script):
                return
        time.sleep(0.1)
    raise AssertionError(f"page did not settle in {timeout}s: {duo.driver.current_url}")


def visit(duo, path: str) -> None:
    duo.driver.get(duo.server_url + path)
    settle(duo)


def screenshot(duo, path: Path) -> None:
    """The whole page: the window is made as tall as the page (twice: charts grow when the window does)."""
    driver = duo.driver
    driver.execute_script("window.scrollTo(0, 0)")
    for _ in range(2):
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1440, min(max(height, 800) + 100, 5000))
        time.sleep(0.6)  # let plotly resize the graphs to the new window
        settle(duo)
    driver.save_screenshot(str(path))
    driver.set_window_size(1440, 1000)


def page_text(duo) -> str:
    return duo.driver.find_element("css selector", "#page").text


def external_resources(duo) -> list[str]:
    urls = duo.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [u for u in urls if urlparse(u).hostname not in ("127.0.0.1", "localhost")]


def grid_rows(duo, grid_css: str = ".data-grid") -> list[str]:
    rows = duo.driver.find_elements("css selector", f"{grid_css} .ag-center-cols-container .ag-row")
    return [r.text for r in rows]


# --- tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tab", TABS)
def test_each_tab_renders_with_data(sample_duo, shots, tab):
    visit(sample_duo, f"/{tab}")
    text = page_text(sample_duo)
    assert "Could not show" not in text and "not built yet" not in text and "No data yet" not in text
    active = sample_duo.driver.find_element("css selector", ".tab-nav .nav-link.active")
    assert active.get_attribute("id") == f"nav-{tab}"
    graphs = sample_duo.driver.find_elements("css selector", ".dash-graph .main-svg")
    if tab != "reconciliation":
        assert graphs, "no chart was drawn"
    if tab in ("overdrafts", "reconciliation", "anomalies"):
        assert grid_rows(sample_duo), "the grid shows no rows"
    assert external_resources(sample_duo) == []  # everything from the app itself: works offline
    assert not [e for e in sample_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    screenshot(sample_duo, shots / f"{tab}.png")


def test_a_filter_change_changes_what_is_shown(sample_duo):
    from selenium.webdriver.support.ui import Select
    visit(sample_duo, "/reconciliation")
    before = sample_duo.find_element("#reconciliation-stake").text
    assert "BHD OPEN EXPOSURE" in before.upper() and "SAR OPEN EXPOSURE" in before.upper()
    Select(sample_duo.find_element("#flt-currency")).select_by_value("SAR")
    deadline = time.time() + TIMEOUT
    while "cur=SAR" not in sample_duo.driver.current_url and time.time() < deadline:
        time.sleep(0.1)
    assert "cur=SAR" in sample_duo.driver.current_url
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        after = sample_duo.find_element("#reconciliation-stake").text.upper()
        rows = grid_rows(sample_duo)
        if "BHD OPEN EXPOSURE" not in after and rows and all(" SAR " in f" {r} ".replace("\n", " ") for r in rows):
            break
        time.sleep(0.2)
    assert "SAR OPEN EXPOSURE" in after and "BHD OPEN EXPOSURE" not in after
    assert rows and all("SAR" in r.split("\n") for r in rows)
    # a copied link reproduces the view
    link = sample_duo.driver.current_url
    sample_duo.driver.get(link)
    settle(sample_duo)
    assert Select(sample_duo.find_element("#flt-currency")).first_selected_option.get_attribute("value") == "SAR"
    assert sample_duo.find_element("#reconciliation-stake").text.upper() == after


def test_reconciliation_csv_downloads_the_whole_filtered_result(sample_duo):
    visit(sample_duo, "/reconciliation?cur=BHD&kind=out_of_sync")
    folder = Path(sample_duo.download_path)
    for old in folder.glob("*.csv"):
        old.unlink()
    button = sample_duo.find_element("#reconciliation-export")
    sample_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    time.sleep(0.3)
    button.click()
    name = "discrepancies_out-of-sync_open-and-resolved_BHD_start_to_end.csv"
    deadline = time.time() + TIMEOUT
    while not (folder / name).exists() and time.time() < deadline:
        time.sleep(0.2)
    assert (folder / name).exists(), list(folder.iterdir())
    time.sleep(0.3)
    with open(folder / name, newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = q.discrepancies(sample_duo.engine, q.Filters(currency="BHD"), kind="out_of_sync")
    assert len(rows) == len(expected) > 0
    assert [r["discrepancy_id"] for r in rows] == [e["discrepancy_id"] for e in expected]
    assert {r["currency"] for r in rows} == {"BHD"} and {r["kind"] for r in rows} == {"out_of_sync"}


def test_clicking_a_user_opens_the_ledger(sample_duo, shots):
    visit(sample_duo, "/anomalies")
    cell = sample_duo.find_element(".data-grid .ag-center-cols-container .ag-row .user-link")
    user = cell.text
    sample_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    time.sleep(0.3)
    cell.click()
    deadline = time.time() + TIMEOUT
    while "/ledger/" not in sample_duo.driver.current_url and time.time() < deadline:
        time.sleep(0.1)
    assert unquote(urlparse(sample_duo.driver.current_url).path) == f"/ledger/{user}"
    settle(sample_duo)
    assert sample_duo.find_element("#ledger-user").text == user
    assert "BALANCE NOW" in sample_duo.find_element("#ledger-summary").text.upper()
    assert sample_duo.driver.find_elements("css selector", "#ledger-balance .main-svg")
    rows = grid_rows(sample_duo)
    assert rows and len(rows) == min(20, len(q.user_ledger(sample_duo.engine, user)))
    busiest = q.find_users(sample_duo.engine, None, limit=1)[0]["user_id"]  # a fuller ledger for the picture
    visit(sample_duo, f"/ledger/{busiest}")
    screenshot(sample_duo, shots / "ledger.png")


def test_an_empty_database_shows_the_command_to_run(dash_duo, tmp_path, shots):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    dash_duo.start_server(create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=url)))
    dash_duo.wait_for_contains_text("#page", "No data yet", timeout=TIMEOUT)
    text = dash_duo.find_element("#page").text
    assert "python ingest.py" in text and "Traceback" not in text
    assert "nothing ingested" in dash_duo.find_element("#freshness").text
    for tab in TABS:
        dash_duo.driver.get(dash_duo.server_url + f"/{tab}")
        dash_duo.wait_for_contains_text("#page", "No data yet", timeout=TIMEOUT)
    assert not (tmp_path / "empty.db").exists()
    screenshot(dash_duo, shots / "empty.png")


def test_the_content_security_policy_holds_and_the_page_works_under_it(sample_duo):
    """Grids (with AG Grid's row class expressions), charts and the clientside callbacks work under the policy,
    and the browser enforces it: an inline script injected into the page does not run."""
    from sqlalchemy import text
    with sample_duo.engine.connect() as conn:  # a user with a flagged row among the newest page of the ledger
        user = conn.execute(text(
            "SELECT b.user_id FROM balance_events b WHERE (b.is_calc_mismatch OR b.is_continuity_break) AND "
            "(SELECT COUNT(*) FROM balance_events n WHERE n.user_id = b.user_id AND n.ts > b.ts) < 10 "
            "ORDER BY b.user_id LIMIT 1")).scalar_one()
    visit(sample_duo, f"/ledger/{user}")
    assert sample_duo.driver.find_elements("css selector", ".data-grid .ag-row.row-flagged")
    assert sample_duo.driver.find_elements("css selector", "#ledger-balance .main-svg")
    assert not [e for e in sample_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    sample_duo.driver.execute_script("const s = document.createElement('script'); "
                                     "s.textContent = 'window.injected = 1'; document.body.appendChild(s);")
    assert sample_duo.driver.execute_script("return window.injected") is None
    assert any("Content Security Policy" in e["message"] for e in sample_duo.get_logs() or [])
