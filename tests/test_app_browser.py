"""The dashboard in headless Chromium (dash[testing]): every tab renders with data, a filter changes what is
shown, the reconciliation CSV downloads whole, a click opens a user's ledger and its back link returns, an empty
database is friendly, and nothing is fetched from outside the app. Grids: figures right-aligned (measured from
computed styles and positions), nothing cut off, the compared columns in view at 1440 px, sort and filters through
the URL, exact counts, empty results that say why. Dates: typed and applied with Tab, refused with a message,
YYYY-MM-DD under a German browser locale.

Screenshots of every tab are taken on the sample export; set BALANCE_LOGS_SCREENSHOTS=docs/screenshots to
write them there (the README shows those), else they go to the test's temporary folder.
"""
from __future__ import annotations

import csv
import json
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


def german(driver) -> None:
    """The browser's language and locale German from now on (Chrome DevTools: headless Chrome ignores --lang)."""
    agent = driver.execute_script("return navigator.userAgent")
    driver.execute_cdp_cmd("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": "de-DE,de"})
    driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "de-DE"})


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
            || g.querySelector('.ag-overlay-no-rows-center, .ag-overlay-no-rows-wrapper')
            || (g.parentElement.querySelector('.grid-empty') || {}).textContent) ready += 1;
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


def wait_for(condition, timeout: float = TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the page did not get there in time")


def click(duo, element) -> None:
    """Scroll an element to the middle of the window (at once: Bootstrap scrolls smoothly) and click it."""
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def api(grid_id: dict) -> str:
    """JavaScript for a grid's AG Grid API."""
    return f"dash_ag_grid.getApi({json.dumps(grid_id)})"


def query(duo) -> dict:
    from urllib.parse import parse_qsl
    return dict(parse_qsl(urlparse(duo.driver.current_url).query))


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
    cell = sample_duo.find_element(".data-grid .ag-center-cols-container .ag-row [col-id=user_id] a")
    user = cell.text
    click(sample_duo, cell)
    wait_for(lambda: "/ledger/" in sample_duo.driver.current_url)
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


# --- grids ---------------------------------------------------------------------------------------

ALIGNMENT_JS = """
  // every money and count cell of the page's grids: its text's right edge, under its header's
  const out = [];
  document.querySelectorAll('.data-grid .ag-center-cols-container .ag-row').forEach(row => {
    row.querySelectorAll('.ag-cell.numeric').forEach(cell => {
      const text = cell.firstChild && cell.firstChild.nodeType === 3 ? cell.firstChild
                   : document.evaluate('.//text()', cell, null, 9, null).singleNodeValue;
      if (!text || !text.textContent.trim()) return;
      const range = document.createRange(); range.selectNodeContents(text);
      const grid = cell.closest('.data-grid');
      const header = grid.querySelector(`.ag-header-cell[col-id="${cell.getAttribute('col-id')}"]`);
      const label = header.querySelector('.ag-header-cell-text');
      const style = getComputedStyle(cell);
      out.push({col: cell.getAttribute('col-id'), align: style.textAlign, figures: style.fontVariantNumeric,
                cell: range.getBoundingClientRect().right, cellBox: cell.getBoundingClientRect().right,
                header: label.getBoundingClientRect().right, headerBox: header.getBoundingClientRect().right,
                cut: cell.scrollWidth > cell.clientWidth});
    });
  });
  return out;
"""


def test_figures_are_right_aligned_under_their_headers_in_tabular_digits(sample_duo):
    for path in ("/reconciliation", "/overdrafts", "/anomalies"):
        visit(sample_duo, path)
        cells = sample_duo.driver.execute_script(ALIGNMENT_JS)
        money = [c for c in cells if c["col"] in ("amount_at_stake", "current_gap", "balance", "amount")]
        assert money, path
        for c in cells:
            assert c["align"] == "right" and "tabular-nums" in c["figures"], c
            assert abs(c["cell"] - c["cellBox"]) <= 12 and abs(c["header"] - c["headerBox"]) <= 12, c
            assert abs(c["cell"] - c["header"]) <= 3, c  # the figure ends where its header's words end
            assert not c["cut"], c


CUT_JS = """
  const cut = [];
  document.querySelectorAll('.data-grid .ag-header-cell-text').forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1) cut.push('header ' + e.textContent);
  });
  document.querySelectorAll('.data-grid .ag-row .ag-cell').forEach(e => {
    const id = e.getAttribute('col-id');
    if (/(_at|^ts|_date|user_id|currency|transaction_id)$/.test(id) && e.scrollWidth > e.clientWidth + 1)
      cut.push(id + ' ' + e.textContent);
  });
  return cut;
"""
IN_VIEW_JS = """
  // columns that must show without scrolling sideways: inside the grid's centre, left of what is pinned right
  const grid = document.querySelector(arguments[0]);
  const right = (grid.querySelector('.ag-pinned-right-header') || grid).getBoundingClientRect();
  const limit = right.width ? right.left : grid.getBoundingClientRect().right;
  return arguments[1].map(id => {
    const h = grid.querySelector(`.ag-header-cell[col-id="${id}"]`);
    return [id, h !== null && h.getBoundingClientRect().right <= limit + 1];
  });
"""


def test_headers_and_times_show_whole_and_compared_columns_sit_side_by_side(sample_duo):
    assert sample_duo.driver.get_window_size()["width"] == 1440
    compared = {"/reconciliation": ("subscription_balance", "payment_balance", "current_gap"),
                "/overdrafts": ("negative_amount", "balance", "payment_balance"),
                "/anomalies": ("explanation",), "/health": ("count_events",)}
    for path, columns in compared.items():
        visit(sample_duo, path)
        assert sample_duo.driver.execute_script(CUT_JS) == [], path
        shown = dict(sample_duo.driver.execute_script(IN_VIEW_JS, ".data-grid", list(columns)))
        assert all(shown.values()), (path, shown)
    user = q.find_users(sample_duo.engine, None, limit=1)[0]["user_id"]
    visit(sample_duo, f"/ledger/{user}")
    assert sample_duo.driver.execute_script(CUT_JS) == []
    shown = dict(sample_duo.driver.execute_script(IN_VIEW_JS, ".data-grid", ["new_balance", "payment_balance"]))
    assert all(shown.values()), shown


ISSUES = {"name": "discrepancies", "tab": "reconciliation", "type": "grid"}


def test_a_grids_sort_and_filters_go_into_the_url_and_come_back_from_it(sample_duo):
    visit(sample_duo, "/reconciliation?cur=BHD")
    header = sample_duo.find_element(".ag-header-cell[col-id='amount_at_stake'] .ag-header-cell-label")
    for _ in range(2):  # ascending, then descending
        click(sample_duo, header)
        settle(sample_duo)
    wait_for(lambda: query(sample_duo).get("issues.sort") == "-amount_at_stake")
    sample_duo.driver.execute_script(api(ISSUES) + ".setFilterModel({kind: {filterType: 'text', type: 'equals', "
                                     "filter: 'out_of_sync'}, amount_at_stake: {filterType: 'number', "
                                     "type: 'greaterThan', filter: 0.5}})")
    settle(sample_duo)
    wait_for(lambda: "issues.kind" in query(sample_duo))
    assert query(sample_duo) == {"cur": "BHD", "issues.sort": "-amount_at_stake",
                                 "issues.kind": "equals:out_of_sync", "issues.amount_at_stake": "greaterThan:0.5"}
    expected = q.discrepancies(sample_duo.engine, q.Filters(currency="BHD"), kind="out_of_sync")
    expected = sorted([e for e in expected if e["amount_at_stake"] > 500_000], key=lambda e: -e["amount_at_stake"])
    ids_js = (f"const a = {api(ISSUES)}; const out = []; "
              "for (let i = 0; i < a.getDisplayedRowCount(); i++) { const n = a.getDisplayedRowAtIndex(i); "
              "if (n && n.data) out.push(n.data.discrepancy_id); } return out;")
    rows = sample_duo.driver.execute_script(ids_js)
    assert rows == [e["discrepancy_id"] for e in expected][:20] and rows
    export = sample_duo.find_element("#reconciliation-export").get_attribute("href")
    assert "issues.sort=-amount_at_stake" in export and "issues.kind=equals:out_of_sync" in export
    # a reload (or the copied link) shows the same rows, sorted and filtered the same way
    link = sample_duo.driver.current_url
    sample_duo.driver.get(link)
    settle(sample_duo)
    assert sample_duo.driver.current_url == link and sample_duo.driver.execute_script(ids_js) == rows
    state = sample_duo.driver.execute_script(f"const a = {api(ISSUES)}; return [a.getFilterModel(), "
                                             "a.getColumnState().filter(c => c.sort).map(c => [c.colId, c.sort])]")
    assert state == [{"kind": {"filterType": "text", "type": "equals", "filter": "out_of_sync"},
                      "amount_at_stake": {"filterType": "number", "type": "greaterThan", "filter": 0.5}},
                     [["amount_at_stake", "desc"]]]
    # a global filter changed afterwards keeps the grid's sort and filters in the URL
    from selenium.webdriver.support.ui import Select
    Select(sample_duo.find_element("#flt-currency")).select_by_value("SAR")
    wait_for(lambda: query(sample_duo).get("cur") == "SAR" and "issues.kind" in query(sample_duo))
    settle(sample_duo)
    assert query(sample_duo)["issues.sort"] == "-amount_at_stake"


def test_counts_are_exact_and_the_last_page_works(sample_duo):
    visit(sample_duo, "/anomalies")
    n = len(q.anomaly_findings(sample_duo.engine))
    assert n > 40
    pager = sample_duo.find_element(".ag-paging-panel").text
    assert f"1 to 20 of {n}" in pager and f"Page 1 of {-(-n // 20)}" in pager and "more" not in pager
    click(sample_duo, sample_duo.find_element(".ag-paging-panel [data-ref=btLast]"))
    wait_for(lambda: f"Page {-(-n // 20)} of" in sample_duo.find_element(".ag-paging-panel").text)
    settle(sample_duo)
    assert len(grid_rows(sample_duo)) == n - 20 * (-(-n // 20) - 1)


def test_an_empty_result_says_what_is_empty_and_why(sample_duo):
    visit(sample_duo, "/reconciliation?cur=BHD&issues.user_id=contains:no-such-user")
    message = sample_duo.find_element("#" + _css_id(reconciliation_part("empty")))
    assert message.text.startswith("No issues match these filters: currency BHD; column User contains "
                                   "“no-such-user”. Without them there are")
    assert message.is_displayed() and not grid_rows(sample_duo)
    assert not sample_duo.find_element(".ag-paging-panel").is_displayed() or \
        sample_duo.find_element(".ag-paging-panel").value_of_css_property("visibility") == "hidden"
    assert "No Rows To Show" not in page_text(sample_duo)
    visit(sample_duo, "/health")
    assert "No quarantined blocks: every log block was parsed." in page_text(sample_duo)


def reconciliation_part(part: str) -> dict:
    return {"type": f"grid-{part}", "tab": "reconciliation", "name": "discrepancies"}


def _css_id(ident: dict) -> str:
    """The DOM id Dash gives a dict id, escaped for a CSS selector."""
    import re
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return re.sub(r'([{}":,.\[\]])', r"\\\1", text)


# --- dates and navigation ------------------------------------------------------------------------

def test_a_typed_date_applies_on_tab_and_a_wrong_one_says_so(sample_duo):
    from selenium.webdriver.common.keys import Keys
    visit(sample_duo, "/reconciliation?cur=BHD")
    field = sample_duo.find_element("#flt-from")
    field.send_keys("2024-01-05", Keys.TAB)
    wait_for(lambda: query(sample_duo).get("from") == "2024-01-05")
    settle(sample_duo)
    assert field.get_attribute("value") == "2024-01-05"
    problem = sample_duo.find_element("#flt-dates-problem")
    assert problem.text == "" and "is-invalid" not in field.get_attribute("class")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("20245-01-01", Keys.TAB)
    wait_for(lambda: problem.text != "")
    assert problem.text == ("From: “20245-01-01” is not a date: type YYYY-MM-DD; the view keeps the bound it had")
    assert "is-invalid" in field.get_attribute("class") and query(sample_duo).get("from") == "2024-01-05"
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE, Keys.TAB)  # emptied: no lower bound, and nothing to say
    wait_for(lambda: "from" not in query(sample_duo))
    wait_for(lambda: problem.text == "")
    assert "is-invalid" not in field.get_attribute("class")


def test_dates_read_yyyy_mm_dd_under_a_german_browser_locale(chromium, sample_db, tmp_path):
    from dash.testing.application_runners import ThreadedRunner
    from selenium.webdriver.common.keys import Keys
    settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=sample_db)
    with ThreadedRunner() as server, _composite(server, tmp_path) as duo:
        german(duo.driver)
        duo.start_server(create_app(settings, warm=False))
        visit(duo, "/reconciliation?from=2024-01-03&to=2024-01-31&as_of=2024-01-20")
        locale = duo.driver.execute_script("return [navigator.language, Intl.DateTimeFormat().resolvedOptions()"
                                           ".locale, new Date(2024, 0, 3).toLocaleDateString()]")
        assert locale == ["de-DE", "de-DE", "3.1.2024"]  # the browser would write dates the German way
        shown = {i: duo.find_element(i).get_attribute("value") for i in ("#flt-from", "#flt-to")}
        assert shown == {"#flt-from": "2024-01-03", "#flt-to": "2024-01-31"}
        as_of = duo.driver.find_element("css selector", ".param input.date-input")
        assert as_of.get_attribute("value") == "2024-01-20"
        assert {f.get_attribute("type") for f in duo.driver.find_elements("css selector", "input.date-input")} == \
            {"text"}  # not the browser's own date field, which follows its locale
        assert "AT THE END OF 2024-01-20" in duo.find_element("#reconciliation-stake").text.upper()
        field = duo.find_element("#flt-to")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys("2024-01-15", Keys.TAB)
        wait_for(lambda: query(duo).get("to") == "2024-01-15")
        settle(duo)
        first_seen = [r.split("\n")[0] for r in grid_rows(duo)]
        assert first_seen and all(len(t) == 23 and t[4] == "-" and t[10] == " " for t in first_seen), first_seen


def test_the_ledger_back_link_returns_where_the_user_came_from(sample_duo):
    visit(sample_duo, "/overdrafts?reason=wallet")
    header = sample_duo.find_element(".ag-header-cell[col-id='amount'] .ag-header-cell-label")
    click(sample_duo, header)
    settle(sample_duo)
    wait_for(lambda: "events.sort" in query(sample_duo))
    origin = sample_duo.driver.current_url
    link = sample_duo.driver.find_elements("css selector", ".ag-center-cols-container [col-id=user_id] a")[-1]
    click(sample_duo, link)
    wait_for(lambda: "/ledger/" in sample_duo.driver.current_url)
    settle(sample_duo)
    ledger_path = urlparse(sample_duo.driver.current_url).path
    back = sample_duo.find_element("#ledger-back")
    assert back.text == "← Overdraft Detection"
    click(sample_duo, back)
    wait_for(lambda: "/overdrafts" in sample_duo.driver.current_url)
    settle(sample_duo)
    assert sample_duo.driver.current_url == origin
    assert sample_duo.driver.execute_script(
        f"return {api({'name': 'overdraft-events', 'tab': 'overdrafts', 'type': 'grid'})}"
        ".getColumnState().filter(c => c.sort).map(c => [c.colId, c.sort])") == [["amount", "asc"]]
    # opened from a shared link, the ledger goes back to Transaction Trends
    visit(sample_duo, ledger_path + "?cur=BHD")
    back = sample_duo.find_element("#ledger-back")
    assert back.text == "← Transaction Trends" and back.get_attribute("href").endswith("/trends?cur=BHD")


def test_a_transaction_id_opens_its_ledger_row(sample_duo):
    visit(sample_duo, "/anomalies")
    row = sample_duo.driver.execute_script(
        f"return {api({'name': 'anomalies', 'tab': 'anomalies', 'type': 'grid'})}.getDisplayedRowAtIndex(0).data")
    [[tx, href]] = row["links"]["transaction_id"]
    sample_duo.driver.get(sample_duo.server_url + href)
    settle(sample_duo)
    assert unquote(urlparse(sample_duo.driver.current_url).path) == f"/ledger/{row['user_id']}"
    assert [r for r in grid_rows(sample_duo)] and len(grid_rows(sample_duo)) == 1
    assert tx in sample_duo.driver.execute_script(
        f"return {api({'name': 'ledger', 'tab': 'ledger', 'type': 'grid'})}.getDisplayedRowAtIndex(0).data"
        ".transaction_id")
    assert "Show every transaction" in page_text(sample_duo)
