"""Reviews in headless Chromium: a review round trip on the Reconciliation tab (select a row, save a status,
assignee and note, see it in the history, the grid and the database, filter the grid by it) and the anomaly
panel, and a read-only dashboard that shows the history without any control to change it."""
from __future__ import annotations

import os
import time

import pytest

import queries as q
import settings as settings_mod
from app import create_app
from db.engine import make_engine
from pipeline import run
from queries.reviews import record_review, review_history
from test_app_browser import TIMEOUT, chromium, dash_duo, grid_rows, screenshot, settle  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def review_db(tmp_path):
    """A database of its own (the tests write reviews), with a small sample export ingested."""
    from sample import generate
    generate(tmp_path / "logs", days=4, users=40, seed=7)
    url = f"sqlite:///{tmp_path / 'reviews.db'}"
    run([str(tmp_path / "logs")], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url


def _start(duo, url: str, **overrides):
    settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=url, **overrides)
    duo.start_server(create_app(settings, warm=False))
    return settings


def _visit(duo, path: str) -> None:
    duo.driver.get(duo.server_url + path)
    settle(duo)


def _wait(condition, what: str):
    """Poll `condition` until it holds (a grid re-rendering meanwhile only means one more try)."""
    from selenium.common.exceptions import StaleElementReferenceException
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            if condition():
                return
        except StaleElementReferenceException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _select_row(duo, tab: str, index: int = 0) -> None:
    """Click a cell of a grid row that is not the user (a click on the user opens the ledger)."""
    row = f".data-grid .ag-center-cols-container .ag-row[row-index='{index}']"
    cell = duo.driver.find_elements("css selector", f"{row} .ag-cell[col-id='currency']")
    assert cell, "the grid shows no rows"
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", cell[0])
    cell[0].click()
    _wait(lambda: "Select a row" not in duo.find_element(f"#{tab}-review-form").text, "the review panel to open")


def _click(duo, css: str) -> None:
    element = duo.find_element(css)
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def _review_column(duo) -> list[str]:
    cells = duo.driver.find_elements(
        "css selector", ".data-grid .ag-pinned-right-cols-container .ag-row .ag-cell[col-id='review_status']")
    return [c.text for c in cells]


def test_a_review_round_trip_on_the_reconciliation_tab(dash_duo, review_db, tmp_path):
    from selenium.webdriver.support.ui import Select
    _start(dash_duo, review_db, REVIEWER_NAME="ana")
    engine = make_engine(review_db, readonly=True)
    _visit(dash_duo, "/reconciliation")
    first = q.discrepancies(engine, limit=1)[0]  # the grid's first row (the same default order)
    _select_row(dash_duo, "reconciliation")
    assert f"discrepancy {first['discrepancy_id']}" in dash_duo.find_element("#reconciliation-review-title").text
    assert "Not reviewed yet" in dash_duo.find_element("#reconciliation-review-history").text

    Select(dash_duo.find_element("#reconciliation-review-status")).select_by_value("investigating")
    dash_duo.find_element("#reconciliation-review-assignee").send_keys("bob")
    dash_duo.find_element("#reconciliation-review-note").send_keys("called the customer")
    _click(dash_duo, "#reconciliation-review-save")
    dash_duo.wait_for_contains_text("#reconciliation-review-message", "Saved: new → investigating by ana",
                                    timeout=TIMEOUT)
    history = dash_duo.find_element("#reconciliation-review-history").text
    assert "ana · new → investigating · assignee bob" in history and "called the customer" in history
    assert dash_duo.find_element("#reconciliation-review-note").get_attribute("value") == ""  # ready for the next
    [saved] = review_history(engine, "discrepancy", str(first["discrepancy_id"]))
    assert (saved["status"], saved["assignee"], saved["note"], saved["reviewer"]) == \
        ("investigating", "bob", "called the customer", "ana")
    # the grid shows it at once, on the selected row
    _wait(lambda: _review_column(dash_duo)[:1] == ["investigating"], "the grid to show the new status")
    assert set(_review_column(dash_duo)[1:]) == {"new"}
    screenshot(dash_duo, tmp_path / "review.png")

    # a second save goes on top of the first; both stay in the history
    Select(dash_duo.find_element("#reconciliation-review-status")).select_by_value("explained")
    _click(dash_duo, "#reconciliation-review-save")
    dash_duo.wait_for_contains_text("#reconciliation-review-message", "investigating → explained",
                                    timeout=TIMEOUT)
    assert len(dash_duo.driver.find_elements("css selector", "#reconciliation-review-history .review-entry")) == 2

    # the review filter lives in the URL and narrows the grid to the reviewed row
    Select(dash_duo.find_element("#" + _param_css("reconciliation"))).select_by_value("explained")
    _wait(lambda: "review=explained" in dash_duo.driver.current_url, "the URL to carry the review filter")
    _wait(lambda: len(grid_rows(dash_duo)) == 1 and _review_column(dash_duo) == ["explained"],
          "the grid to show only the reviewed row")


def _param_css(tab: str) -> str:
    """The id Dash gives the review select (a dict id, rendered as sorted JSON), escaped for a CSS selector."""
    import json
    raw = json.dumps({"name": "review", "tab": tab, "type": "param"}, separators=(",", ":"))
    return "".join("\\" + c if not c.isalnum() else c for c in raw)


def test_the_anomaly_tab_reviews_a_finding(dash_duo, review_db):
    from selenium.webdriver.support.ui import Select
    _start(dash_duo, review_db, REVIEWER_NAME="ana")
    engine = make_engine(review_db, readonly=True)
    _visit(dash_duo, "/anomalies")
    first = q.anomaly_findings(engine, limit=1)[0]
    _select_row(dash_duo, "anomalies")
    assert first["fingerprint"] in dash_duo.find_element("#anomalies-review-title").text
    Select(dash_duo.find_element("#anomalies-review-status")).select_by_value("false_positive")
    _click(dash_duo, "#anomalies-review-save")
    dash_duo.wait_for_contains_text("#anomalies-review-message", "new → false positive by ana", timeout=TIMEOUT)
    assert [r["status"] for r in review_history(engine, "anomaly", first["fingerprint"])] == ["false_positive"]
    _wait(lambda: _review_column(dash_duo)[:1] == ["false_positive"], "the grid to show the new status")


def test_a_read_only_dashboard_shows_reviews_without_controls(dash_duo, review_db, tmp_path):
    engine = make_engine(review_db)
    first = q.discrepancies(engine, limit=1)[0]
    writable = settings_mod.load(env_file=os.devnull, DATABASE_URL=review_db)
    record_review(engine, writable, "discrepancy", str(first["discrepancy_id"]), "written_off", reviewer="bob",
                  note="below the threshold")
    _start(dash_duo, review_db, DASH_READ_ONLY="true")
    _visit(dash_duo, "/reconciliation")
    assert _review_column(dash_duo)[:1] == ["written_off"]
    _select_row(dash_duo, "reconciliation")
    form = dash_duo.find_element("#reconciliation-review-form").text
    assert "Read-only dashboard (DASH_READ_ONLY=true)" in form
    for control in ("status", "assignee", "note", "save"):
        assert not dash_duo.driver.find_elements("css selector", f"#reconciliation-review-{control}"), control
    history = dash_duo.find_element("#reconciliation-review-history").text
    assert "bob · new → written off" in history and "below the threshold" in history
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
    screenshot(dash_duo, tmp_path / "read-only.png")
