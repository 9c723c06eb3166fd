"""The CSV reports byte for byte on the fixture, formula neutralisation, and the weekly page's figures."""
from __future__ import annotations

import csv

import pytest

import reports
from reports.csvfile import safe_cell
from queries.pseudonym import pseudonymise
from test_reports_fixture import FORMULA_USER, report_db, report_engine, report_settings  # noqa: F401
from test_reports_html import Page

DAILY_HEADER = ("business_date,status,user_id,currency,balance,payment_balance,expected_balance,overdraft_amount,"
                "overdraft_reason,overdrawn_since,count_overdraft_transactions,last_transaction_id,"
                "last_transaction_at\r\n")

DAILY_2024_01_10 = DAILY_HEADER + (
    "2024-01-10,new,user-c,BHD,-3.000,-2.999,-3.000,3.000,actual,2024-01-09T21:01:00.100Z,1,T03,"
    "2024-01-09T21:01:00.100Z\r\n"
    "2024-01-10,new,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",SAR,-2.00,0.00,-2.00,2.00,actual,"
    "2024-01-10T08:00:00.000Z,1,T08,2024-01-10T08:00:00.000Z\r\n"
    "2024-01-10,resolved,user-b,SAR,70.00,70.01,70.00,0.00,actual,,0,T06,2024-01-10T10:00:00.000Z\r\n")

DAILY_2024_01_09 = DAILY_HEADER + (
    "2024-01-09,ongoing,user-b,SAR,-30.00,-30.00,-30.00,30.00,actual,2024-01-07T21:01:00.200Z,1,T05,"
    "2024-01-09T10:00:00.000Z\r\n")

WEEKLY_HEADER = ("week_from,week_to,currency,kind,count_opened,amount_opened,count_resolved,amount_resolved,"
                 "count_still_open,amount_still_open,is_partial_week\r\n")

# Worked out from the fixture's issues (tests/test_reports_fixture.py). Episodes: the gap when opened, the largest
# gap when resolved, the gap after the last transaction before the week's end while still open; breaks: their
# difference. Summed in micro-units, rounded once.
WEEKLY_2024_W01 = WEEKLY_HEADER + (
    # user-d's episode, open since 2023-12-29; user-b's first one, opened 2023-12-28 at a gap of 5.50: T04, which
    # closes the gap to 0, is at 00:01 on Monday 2024-01-08 in business time, so at the week's end it was 5.50
    "2024-01-01,2024-01-07,BHD,out_of_sync,0,0.000,0,0.000,1,3.000,false\r\n"
    "2024-01-01,2024-01-07,SAR,out_of_sync,0,0.00,0,0.00,1,5.50,false\r\n")

WEEKLY_2024_W02 = WEEKLY_HEADER + (
    # calculation:T07, resolved only on 2024-01-15
    "2024-01-08,2024-01-14,BHD,calculation,1,0.727,0,0.000,1,0.727,false\r\n"
    # out_of_sync:T03 opened (0.0015); still open with user-d's (3): 3.0015
    "2024-01-08,2024-01-14,BHD,out_of_sync,1,0.002,0,0.000,2,3.002,false\r\n"
    # T06 (0.005) and the formula user's T08 (2) opened; T08's is resolved at 00:30 on Monday the 15th in business
    # time, so it is still open at this week's end; user-b's first episode (largest gap 5.50), opened the week
    # before, is resolved in this one
    "2024-01-08,2024-01-14,SAR,out_of_sync,2,2.01,1,5.50,2,2.01,false\r\n")

WEEKLY_2024_W03 = WEEKLY_HEADER + (  # the data ends on Monday 2024-01-15: a partial week
    "2024-01-15,2024-01-21,BHD,calculation,0,0.000,1,0.727,0,0.000,true\r\n"
    "2024-01-15,2024-01-21,BHD,continuity,1,2.727,0,0.000,1,2.727,true\r\n"
    # user-a's T09 opened (0.0015); open at the end: user-c's 0.0015, user-a's 0.0015, user-d's 3 = 3.003
    "2024-01-15,2024-01-21,BHD,out_of_sync,1,0.002,0,0.000,3,3.003,true\r\n"
    "2024-01-15,2024-01-21,SAR,out_of_sync,0,0.00,1,2.00,1,0.01,true\r\n")


@pytest.fixture
def build(report_engine, report_settings, tmp_path):
    def run(kind, **opts):
        return reports.build(kind, report_engine, report_settings, tmp_path, **opts)
    return run


def test_daily_overdrafts_exact_content(build):
    [path] = build("daily-overdrafts", date="2024-01-10")
    assert path.name == "overdrafts-2024-01-10.csv"
    assert path.read_bytes().decode("utf-8") == DAILY_2024_01_10
    [path] = build("daily-overdrafts", date="2024-01-09")
    assert path.read_bytes().decode("utf-8") == DAILY_2024_01_09


def test_daily_overdrafts_lists_the_guards_refusals(build):
    [path] = build("daily-overdrafts", date="2024-01-11")
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    assert [r[1:5] + r[7:9] + r[11:] for r in rows[1:]] == [
        ["ongoing", "user-c", "BHD", "-3.000", "3.000", "actual", "T03", "2024-01-09T21:01:00.100Z"],
        ["ongoing", "'" + FORMULA_USER, "SAR", "-2.00", "2.00", "actual", "T08", "2024-01-10T08:00:00.000Z"],
        ["refused", "user-c", "BHD", "-3.000", "0.000", "guard", "T11", "2024-01-11T09:00:00.000Z"]]


def test_daily_overdrafts_default_day_is_the_last_one_ingested(build):
    [path] = build("daily-overdrafts")
    assert path.name == "overdrafts-2024-01-15.csv"
    rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
    assert [r[1:4] for r in rows[1:]] == [["ongoing", "user-c", "BHD"], ["ongoing", "'" + FORMULA_USER, "SAR"]]


def test_weekly_reconciliation_csv_and_page(build):
    csv_path, html_path = build("weekly-reconciliation", week="2024-W02")
    assert (csv_path.name, html_path.name) == ("reconciliation-2024-W02.csv", "reconciliation-2024-W02.html")
    assert csv_path.read_bytes().decode("utf-8") == WEEKLY_2024_W02
    html = html_path.read_text(encoding="utf-8")
    rows = Page(html).tables["reconciliation"]
    csv_rows = [ln.split(",") for ln in WEEKLY_2024_W02.splitlines()[1:]]
    assert [[r["currency"], r["kind"], r["count_opened"], r["amount_opened"], r["count_resolved"],
             r["amount_resolved"], r["count_still_open"], r["amount_still_open"]] for r in rows] == \
        [c[2:10] for c in csv_rows]
    assert 'data-meta="partial_week"' not in html
    [again, _] = build("weekly-reconciliation", week="2024-01-10")  # any day of the week names it
    assert again.read_bytes().decode("utf-8") == WEEKLY_2024_W02


@pytest.mark.parametrize("week, expected", [("2024-W01", WEEKLY_2024_W01), ("2024-W03", WEEKLY_2024_W03)])
def test_weekly_exposure_at_the_weeks_end(build, week, expected):
    csv_path, html_path = build("weekly-reconciliation", week=week)
    assert csv_path.read_bytes().decode("utf-8") == expected
    html = html_path.read_text(encoding="utf-8")
    assert ('data-meta="partial_week"' in html) is expected.endswith("true\r\n")
    if week == "2024-W03":  # the page says which days of the week the data has: its last day is that Monday
        assert ('the data covers <span data-meta="covered_from">2024-01-15</span> to\n     '
                '<span data-meta="covered_to">2024-01-15</span> of it') in html


def test_weeks_outside_the_data_are_partial(build):
    csv_path, html_path = build("weekly-reconciliation", week="2024-W10")  # after the data's last day
    # nothing opened or resolved; what the data last showed open is still open at the week's end
    assert csv_path.read_bytes().decode("utf-8") == WEEKLY_HEADER + (
        "2024-03-04,2024-03-10,BHD,continuity,0,0.000,0,0.000,1,2.727,true\r\n"
        "2024-03-04,2024-03-10,BHD,out_of_sync,0,0.000,0,0.000,3,3.003,true\r\n"
        "2024-03-04,2024-03-10,SAR,out_of_sync,0,0.00,0,0.00,1,0.01,true\r\n")
    assert "Partial week: the data has no day in it." in html_path.read_text(encoding="utf-8")
    csv_path, html_path = build("weekly-reconciliation", week="2023-W51")  # before the first transaction
    assert csv_path.read_bytes().decode("utf-8") == WEEKLY_HEADER
    html = html_path.read_text(encoding="utf-8")
    assert 'data-meta="partial_week"' in html and "no issues opened, resolved or open in this week" in html


def test_raw_events_csv_for_auditors(build):
    """Every event in the order logged, whichever table holds it (db/events.py): the fixture's parsed_logs rows
    (event ids 1-3) and its typed rows, formulas neutralised."""
    paths = build("daily-overdrafts", date="2024-01-10", raw_csv=True)
    events = paths[-1]
    assert events.name == "events.csv"
    formula = "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""
    assert events.read_bytes().decode("utf-8") == (
        "event_id,ts,business_date,kind,detail,level,request_id,message_id,transaction_id,user_id,parse_status,"
        "file_id,line_no,text,payload\r\n"
        "1,2024-01-07T21:01:00.200Z,2024-01-08,sync,,INFO,,,,user-b,ok,1,10,Start syncing the balance,"
        "\"{\"\"userId\"\": \"\"user-b\"\"}\"\r\n"
        "901,2024-01-07T21:01:00.300Z,2024-01-08,not_in_sync,,ERROR,,msg-T04,T04,user-b,ok,1,35,,\r\n"
        "4,2024-01-08T06:00:00.000Z,2024-01-08,sync,,INFO,req-T01,msg-T01,T01,user-a,ok,1,40,,\r\n"
        "5,2024-01-08T21:01:00.000Z,2024-01-09,sync,,INFO,req-T02,msg-T02,T02,user-a,ok,1,50,,\r\n"
        "6,2024-01-09T10:00:00.000Z,2024-01-09,sync,,INFO,req-T05,msg-T05,T05,user-b,ok,1,60,,\r\n"
        "7,2024-01-09T21:01:00.100Z,2024-01-10,sync,,INFO,req-T03,msg-T03,T03,user-c,ok,1,70,,\r\n"
        f"2,2024-01-10T08:00:00.000Z,2024-01-10,sync,,INFO,,,,{formula},"
        "ok,1,20,\"Start syncing for =HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",\"{\"\"amount\"\": 12}\"\r\n"
        f"8,2024-01-10T08:00:00.000Z,2024-01-10,sync,,INFO,req-T08,msg-T08,T08,{formula},ok,1,80,,\r\n"
        "3,2024-01-10T08:00:00.050Z,2024-01-10,report,,,,,,,ok,1,30,REPORT RequestId: req-T08 Duration: 12.5 ms,\r\n"
        "9,2024-01-10T10:00:00.000Z,2024-01-10,sync,,INFO,req-T06,msg-T06,T06,user-b,ok,1,90,,\r\n"
        "10,2024-01-10T12:00:00.000Z,2024-01-10,sync,,INFO,req-T07,msg-T07,T07,user-a,ok,1,100,,\r\n"
        "900,2024-01-11T09:00:00.000Z,2024-01-11,negative_balance_guard,,INFO,,,T11,user-c,ok,1,90,,\r\n"
        "11,2024-01-12T09:30:00.000Z,2024-01-12,sync,,INFO,req-T10,msg-T10,T10,random-uuid,ok,1,110,,\r\n"
        "902,2024-01-12T10:00:00.000Z,2024-01-12,not_in_sync,,ERROR,,msg-U1,,user-c,ok,1,115,,\r\n"
        f"12,2024-01-14T21:30:00.000Z,2024-01-15,sync,,INFO,req-T15,msg-T15,T15,{formula},ok,1,120,,\r\n"
        "13,2024-01-15T07:00:00.000Z,2024-01-15,sync,,INFO,req-T09,msg-T09,T09,user-a,ok,1,130,,\r\n")


def test_pseudonymised_csvs(build):
    [daily] = build("daily-overdrafts", date="2024-01-10", pseudonymise=True)
    text = daily.read_text(encoding="utf-8")
    assert "user-c" not in text and "HYPERLINK" not in text
    assert f"2024-01-10,new,{pseudonymise('user-c', 'fixture-key')},BHD,-3.000" in text
    events = build("daily-overdrafts", date="2024-01-10", raw_csv=True, pseudonymise=True)[-1]
    raw = events.read_text(encoding="utf-8")
    assert "HYPERLINK" not in raw and "user-b" not in raw  # also inside the text and payload columns


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+44 20", "'+44 20"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("\nx", "'\nx"), ("user-a", "user-a"), ("", ""), (None, ""), (True, "true"), (12, "12"),
    ("-3.000", "-3.000"),
])
def test_safe_cell_neutralises_formulas_only(value, cell):
    assert safe_cell(value) == cell


def test_negative_amounts_stay_numbers(build):
    [path] = build("daily-overdrafts", date="2024-01-10")
    first = path.read_text(encoding="utf-8").splitlines()[1].split(",")
    assert first[4] == "-3.000"  # a Decimal written as a number, never prefixed like text
