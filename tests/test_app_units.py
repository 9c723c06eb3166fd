"""Dashboard pieces without a database or a browser: URL state, filters, CSV safety, grid models, auth."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import column, select, table
from sqlalchemy.dialects import sqlite

from app import urlstate
from app.auth import ExposureError, check_exposure, is_loopback, parse_users
from queries.csv_export import export_file_name, safe_cell, write_csv
from app import grid
from app.grid import short_file
from queries import Filters
from queries.paging import Col, grid_conditions
from app.shell import date_problems, nav_state, preset_range, search_from_controls, search_with_params
from app.tabs import tab_for_path


# --- URL state ---------------------------------------------------------------------------------------

def test_url_round_trip_keeps_globals_first_and_drops_blanks():
    search = urlstate.encode({"kind": "sync", "cur": "BHD", "from": "2024-01-01", "user": "", "status": None})
    assert search == "?from=2024-01-01&cur=BHD&kind=sync"
    assert urlstate.parse(search) == {"from": "2024-01-01", "cur": "BHD", "kind": "sync"}
    assert urlstate.encode({}) == ""


def test_filters_from_url_are_validated():
    f = urlstate.filters("?from=2024-02-30&to=2024-01-31&cur=bhd&user=%20df06%20")
    assert f == Filters(None, date(2024, 1, 31), "BHD", "df06")
    swapped = urlstate.filters("?from=2024-03-01&to=2024-01-01")
    assert (swapped.date_from, swapped.date_to) == (date(2024, 1, 1), date(2024, 3, 1))
    hostile = urlstate.filters("?cur=BHD';DROP TABLE x;--&user=" + "a" * 500)
    assert hostile.currency is None and len(hostile.user) == 64


def test_ledger_paths_quote_any_user_id():
    for user in ("df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02", "random-uuid", "a/b?c=d&e#f", "ü ñ"):
        path = urlstate.ledger_path(user)
        assert path.count("/") == 2 and "?" not in path and "#" not in path
        assert urlstate.ledger_user(path) == user
    assert urlstate.ledger_user("/trends") is None


def test_global_search_keeps_only_global_filters():
    assert urlstate.global_search("?cur=SAR&kind=sync&from=2024-01-01") == "?from=2024-01-01&cur=SAR"


def test_controls_write_the_url_and_keep_other_parameters():
    search = search_from_controls("?cur=BHD&kind=sync", "2024-01-01", "", "SAR", " abc ")
    assert search == "?from=2024-01-01&cur=SAR&user=abc&kind=sync"
    assert search_from_controls("?cur=BHD", None, None, "any", "") == ""
    assert search_with_params("?cur=BHD&kind=sync", {"kind": "any", "status": "open"}) == "?cur=BHD&status=open"
    assert search_with_params("", {"by": "auto", "uid": ""}) == ""  # defaults stay out of the URL
    assert search_with_params("", {"by": "week"}) == "?by=week"


def test_presets_count_back_from_the_newest_business_date():
    assert preset_range("7d", "2024-05-24") == ("2024-05-18", "2024-05-24")
    assert preset_range("30d", "2024-05-24") == ("2024-04-25", "2024-05-24")
    assert preset_range("month", "2024-05-24") == ("2024-05-01", "2024-05-24")
    assert preset_range("all", "2024-05-24") == (None, None)
    assert preset_range("7d", None) == (None, None)


def test_tabs_have_paths_and_nav_links_carry_the_global_filters():
    assert tab_for_path("/").name == "trends" and tab_for_path("/health/").name == "health"
    assert tab_for_path("/nope") is None
    hrefs, active = nav_state("/reconciliation", "?cur=BHD&kind=sync")
    assert hrefs[2] == "/reconciliation?cur=BHD" and active == [False, False, True, False, False]


def test_typed_dates_are_strict_and_a_wrong_one_keeps_the_bound():
    assert urlstate.date_text("2024-02-29") == "2024-02-29" and urlstate.date_problem("") is None
    for wrong in ("20245-01-01", "2024-02-30", "2024-2-3", "03/01/2024", "20240301", "2024-13-01"):
        assert urlstate.date_text(wrong) is None
        assert urlstate.date_problem(wrong) == f"“{wrong}” is not a date: type YYYY-MM-DD"
    # the URL keeps the bound it had, the other field still applies, and the line says which field is wrong
    assert search_from_controls("?from=2024-01-01&cur=BHD", "20245-01-01", "2024-02-29", "BHD", "") == \
        "?from=2024-01-01&to=2024-02-29&cur=BHD"
    assert search_from_controls("?cur=BHD", "2024-02-30", "", "BHD", "") == "?cur=BHD"
    assert date_problems("20245-01-01", "2024-02-29") == (
        True, False, "From: “20245-01-01” is not a date: type YYYY-MM-DD; the view keeps the bound it had")
    assert date_problems("2024-01-01", "") == (False, False, "")
    assert search_with_params("?as_of=2024-03-01", {"as_of": "2024-03-32"}) == "?as_of=2024-03-01"
    assert search_with_params("?as_of=2024-03-01", {"as_of": "2024-03-31"}) == "?as_of=2024-03-31"


def test_ledger_links_remember_where_they_were_opened_and_never_lead_off_site():
    origin = "/reconciliation?cur=BHD&kind=out_of_sync&issues.sort=-amount_at_stake"
    href = urlstate.ledger_href("df06 a/b", origin)
    path, _, search = href.partition("?")
    assert urlstate.ledger_user(path) == "df06 a/b"
    params = urlstate.parse(search)
    assert params == {"cur": "BHD", "back": origin} and urlstate.back_target(params) == origin
    one = urlstate.parse(urlstate.ledger_href("u1", origin, transaction="01HX", keep_filters=False).partition("?")[2])
    assert one == {"ledger.transaction_id": "equals:01HX", "back": origin}  # no dates or currency to hide it
    for hostile in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "reconciliation"):
        assert urlstate.back_target({"back": hostile}) is None
    assert "back" not in urlstate.ledger_href("u1", "/ledger/u2?cur=BHD")  # a ledger returns to a tab, not a ledger
    assert urlstate.issue_mentions("out_of_sync:01HX (open); calculation:01HY (resolved here)") == [
        ("out_of_sync:01HX (open)", "out_of_sync:01HX"), ("calculation:01HY (resolved here)", "calculation:01HY")]
    assert urlstate.issue_href("out_of_sync:01HX") == "/reconciliation?issues.discrepancy_id=equals:out_of_sync:01HX"
    assert short_file("/a/b/2024-01-01-[$LATEST]ab/000000.gz") == "2024-01-01-[$LATEST]ab/000000.gz"


def test_a_grids_sort_and_filters_round_trip_through_the_url():
    from app.tabs.reconciliation import GRID
    sort = [{"colId": "amount_at_stake", "sort": "desc"}, {"colId": "user_id", "sort": "asc"}]
    model = {"user_id": {"filterType": "text", "type": "contains", "filter": "df 06:x,y"},
             "amount_at_stake": {"filterType": "number", "type": "inRange", "filter": 1.5, "filterTo": 200},
             "explanation": {"filterType": "text", "type": "blank"}}
    state = grid.url_state(GRID, sort, model)
    assert state == {"issues.sort": "-amount_at_stake,user_id", "issues.user_id": "contains:df 06:x,y",
                     "issues.amount_at_stake": "inRange:1.5:200", "issues.explanation": "blank"}
    search = urlstate.encode({"cur": "BHD", **state})
    assert search == ("?cur=BHD&issues.amount_at_stake=inRange:1.5:200&issues.explanation=blank"
                      "&issues.sort=-amount_at_stake,user_id&issues.user_id=contains:df+06:x,y")
    assert grid.from_url(GRID, urlstate.parse(search)) == (sort, model)
    # the default order stays out of the URL; unknown columns, operators and values are dropped
    default = [{"colId": f, "sort": d} for f, d in GRID.table.default_sort]
    assert grid.url_state(GRID, default, {}) == {}
    assert grid.from_url(GRID, {"issues.sort": "-nope,;drop", "issues.nope": "contains:x",
                                "issues.user_id": "regex:.*", "issues.amount_at_stake": "greaterThan:NaN",
                                "issues.count_transactions": "greaterThan:", "other.user_id": "contains:x"}) == ([], {})
    assert grid.url_state(GRID, [{"colId": "x; DROP", "sort": "desc"}], {"x": {"type": "contains"}}) == {}


# --- CSV ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1:A2)", "-2+3", "@cmd", "\t=1", "\r=1", "=HYPERLINK(\"x\")"])
def test_formula_cells_are_neutralised(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value, expected", [("-12.500", "-12.500"), ("3", "3"), (None, ""), (True, "true"),
                                             ("plain text", "plain text"), ("a=b", "a=b")])
def test_numbers_and_plain_text_stay_as_they_are(value, expected):
    assert safe_cell(value) == expected


def test_csv_round_trips_through_a_reader():
    text = write_csv(["a", "b"], [["=cmd|' /C calc'!A0", "-1.5"], ["x,y", 'q"q']])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=cmd|' /C calc'!A0", "-1.5"], ["x,y", 'q"q']]


def test_export_file_names_say_what_they_hold():
    from app.tabs.reconciliation import export_name
    assert export_name(Filters(date(2024, 1, 1), date(2024, 1, 31), "BHD"), "sync", "open") == \
        "discrepancies_sync_open_BHD_2024-01-01_to_2024-01-31.csv"
    assert export_name(Filters(user="../../etc/passwd"), None, None) == \
        "discrepancies_all-kinds_open-and-resolved_all-currencies_start_to_end_user-etc-passwd.csv"
    assert export_file_name("x", ["a b/c", "..", ""]) == "x_a-b-c_x_x.csv"


# --- grid filter models become bound SQL -------------------------------------------------------------

def _sql(conds):
    t = table("t", column("user_id"), column("amount"))
    stmt = select(t.c.user_id).where(*conds) if conds else select(t.c.user_id)
    compiled = stmt.compile(dialect=sqlite.dialect())
    return str(compiled), compiled.params


def test_grid_filters_translate_to_bound_parameters():
    t = table("t", column("user_id"), column("amount"))
    cols = {"user_id": Col("user_id"), "amount": Col("amount", "money")}
    sql, params = _sql(grid_conditions(t, cols, {
        "user_id": {"filterType": "text", "type": "contains", "filter": "x'; DROP TABLE t; --"},
        "amount": {"filterType": "number", "type": "greaterThan", "filter": 1.5},
        "nope": {"filterType": "text", "type": "contains", "filter": "ignored"},
    }))
    assert "DROP" not in sql and "nope" not in sql
    assert 1_500_000 in params.values()  # currency units -> micro-units
    assert any("DROP TABLE" in str(v) for v in params.values())


def test_malformed_grid_filters_are_ignored():
    t = table("t", column("user_id"), column("amount"))
    cols = {"user_id": Col("user_id"), "amount": Col("amount", "money")}
    for model in ({"amount": {"filterType": "number", "type": "equals", "filter": "NaN"}},
                  {"amount": {"filterType": "number", "type": "equals", "filter": [1]}},
                  {"user_id": {"filterType": "text", "type": "regex", "filter": ".*"}},
                  {"user_id": "contains x"}, ["not", "a", "dict"], None):
        assert grid_conditions(t, cols, model) == []


# --- exposure and auth -------------------------------------------------------------------------------

def test_only_loopback_may_serve_without_auth():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
    check_exposure("127.0.0.1", {})
    check_exposure("0.0.0.0", {"ana": "pw"})
    with pytest.raises(ExposureError, match="DASH_AUTH_USERS"):
        check_exposure("0.0.0.0", {})


def test_auth_users_parse():
    assert parse_users("ana:pw1, bob:p:w2,broken,:x,") == {"ana": "pw1", "bob": "p:w2"}
    assert parse_users("") == {}


# --- read-only tables ---------------------------------------------------------------------------------

def test_a_table_is_one_markdown_component_whose_cells_are_never_markup():
    from app import ui
    out = ui.table(["Currency", "Closing"], [["BHD", "-1,234.500"], ["a|b *c* <b>x</b> [l](u)", None]],
                   numeric=(1,), class_name="rollforward", caption="as of 2024-05-19")
    lines = out.children.split("\n")
    assert lines[:3] == ["| Currency | Closing |", "|---|---:|", "| BHD | -1,234.500 |"]
    assert lines[3] == r"| a\|b \*c\* \<b\>x\</b\> \[l\]\(u\) |   |"
    assert lines[-1] == "as of 2024-05-19" and out.className == "md-table rollforward"
