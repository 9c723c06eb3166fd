"""Every report on a realistic export (the real one, BALANCE_LOGS_CORPUS, when it is beside the checkout, else the
sample), checked against SQL on the same database; and the real export's own figures (skipped without it)."""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from sqlalchemy import text

import reports
import settings as settings_mod
from db.engine import make_engine
from reports.columns import COLUMNS
from reports.periods import day_start_utc, next_day
from test_reports_html import Page, exposure_from_transactions, rollforward_from_transactions

FIELD_OF = {c.label: c.name for c in COLUMNS.values()}  # the workbook's headers are in words
AGE_BUCKETS = ("exposure_age_0_7", "exposure_age_8_30", "exposure_age_31_90", "exposure_age_over_90")

PLACES = {"BHD": 3, "KWD": 3, "OMR": 3, "SAR": 2, "AED": 2, "QAR": 2}


def exact(micros, currency) -> Decimal:
    return (Decimal(int(micros)) / 1_000_000).quantize(Decimal(1).scaleb(-PLACES.get(currency, 2)),
                                                       rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def corpus(realistic_db, tmp_path_factory):
    """Every report on a realistic export: the real one when it is there, else the sample."""
    settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db)
    engine = make_engine(realistic_db, readonly=True)
    out = tmp_path_factory.mktemp("corpus-reports")
    paths = {p.name: p for p in reports.build("all", engine, settings, out, raw_csv=True)}
    yield engine, paths
    engine.dispose()


@pytest.fixture(scope="module")
def real_corpus(request, corpus_db):
    """The real export's reports (skipped without it): `corpus` itself, as realistic data is the real export."""
    return request.getfixturevalue("corpus")


@dataclass(frozen=True)
class Period:
    """The day and ISO week the reports default to: those of the last business date with a transaction."""
    day: str
    week: str
    monday: str
    sunday: str


def period(engine) -> Period:
    with engine.connect() as conn:
        day = conn.execute(text("SELECT MAX(business_date) FROM balance_events")).scalar_one()
    year, week, weekday = date.fromisoformat(day).isocalendar()
    monday = date.fromisoformat(day) - timedelta(days=weekday - 1)
    return Period(day, f"{year}-W{week:02d}", monday.isoformat(), (monday + timedelta(days=6)).isoformat())


def test_all_reports_written(corpus):
    engine, paths = corpus
    last = period(engine)
    assert set(paths) == {"report.html", "report.xlsx", f"overdrafts-{last.day}.csv",
                          f"reconciliation-{last.week}.csv", f"reconciliation-{last.week}.html", "events.csv"}


def test_ledger_equals_balance_events_row_by_row(corpus):
    engine, paths = corpus
    wb = openpyxl.load_workbook(paths["report.xlsx"], read_only=True)
    rows = wb["Ledger"].iter_rows(values_only=True)
    header = [FIELD_OF[label] for label in next(rows)]
    at = {name: header.index(name) for name in ("transaction_id", "currency", "amount", "new_balance", "vat")}
    with engine.connect() as conn:
        db = conn.execute(text("SELECT transaction_id, currency, amount, new_balance, vat FROM balance_events "
                               "ORDER BY ts, transaction_id")).all()
    n = 0
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row, want in zip(rows, db):
        n += 1
        assert row[at["transaction_id"]] == want.transaction_id
        for name in ("amount", "new_balance", "vat"):
            value = getattr(want, name)
            if value is None:
                assert row[at[name]] is None
            else:  # the cell's number shows exactly the rounded amount
                assert f"{row[at[name]]:.{PLACES[want.currency]}f}" == str(exact(value, want.currency)), name
        totals[want.currency] += exact(want.amount, want.currency)
    assert n == len(db) > 0
    readme = {r[0]: r[1] for r in wb["README"].iter_rows(values_only=True) if isinstance(r[1], int)}
    assert readme["Ledger"] == len(db)


def test_html_cards_equal_sql(corpus):
    engine, paths = corpus
    page = Page(paths["report.html"].read_text(encoding="utf-8"))
    with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
        assert page.kpis[("count_transactions", None)] == str(q("SELECT COUNT(*) FROM balance_events"))
        assert page.kpis[("count_users", None)] == str(q("SELECT COUNT(DISTINCT user_id) FROM balance_events"))
        assert page.kpis[("count_open_discrepancies", None)] == str(
            q("SELECT COUNT(*) FROM discrepancy_report WHERE status = 'open'"))
        assert page.kpis[("count_anomalies", None)] == str(q("SELECT COUNT(*) FROM anomalies"))
        assert page.kpis[("count_high_anomalies", None)] == str(q("SELECT COUNT(*) FROM anomalies "
                                                                  "WHERE severity = 'high'"))
        assert page.kpis[("count_negative_wallet_now", None)] == str(q(
            "SELECT COUNT(*) FROM user_balances WHERE payment_balance < 0"))
        for cur, typ, total in conn.execute(text("SELECT currency, type, SUM(amount) FROM balance_events "
                                                 "GROUP BY currency, type")):
            key = {"DEBIT": "total_debit", "CREDIT": "total_credit"}[typ]
            assert page.kpis[(key, cur)] == str(exact(total, cur)), (key, cur)
        # open exposure: Σ |current gap| of the open episodes, equal to the gaps of the users whose latest
        # transaction is out of sync, each counted once
        episodes = dict(conn.execute(text(
            "SELECT currency, SUM(ABS(current_gap)) FROM discrepancy_report WHERE kind = 'out_of_sync' "
            "AND status = 'open' AND current_gap IS NOT NULL GROUP BY currency")).all())
        from_transactions = exposure_from_transactions(conn)
    assert episodes and {cur: int(v) for cur, v in episodes.items() if v} == {
        cur: e["exposure"] for cur, e in from_transactions.items() if e["exposure"]}
    for cur, total in episodes.items():
        assert page.kpis[("open_exposure", cur)] == str(exact(total, cur)), cur


def sheet_rows(wb, name: str) -> list[dict]:
    rows = wb[name].iter_rows(values_only=True)
    head = [FIELD_OF[label] for label in next(rows)]
    return [dict(zip(head, r)) for r in rows]


def test_html_tables_and_workbook_sheets_equal_sql(corpus):
    """The exposure table and sheet equal the users' latest transactions; the roll-forward table and the Summary
    sheet are balance_rollforward, which ties out, with gross, VAT and net summed here from the transactions and
    the exposure at each month's end from the users' latest transactions before it."""
    engine, paths = corpus
    page = Page(paths["report.html"].read_text(encoding="utf-8"))
    wb = openpyxl.load_workbook(paths["report.xlsx"], read_only=True)
    tz = settings_mod.load(env_file=os.devnull).business_tz
    with engine.connect() as conn:
        from_transactions = exposure_from_transactions(conn)
        months, moved, at_end = rollforward_from_transactions(conn, tz)
        balances = {cur: int(total) for cur, total in conn.execute(text(
            "SELECT currency, SUM(balance) FROM user_balances GROUP BY currency"))}
    assert {r["currency"]: r["closing_balance"] for r in months} == balances  # the last month's, per currency
    assert at_end[months[-1]["month"]] == from_transactions  # the last month's end is now
    money = ("opening_balance", "first_seen_balances", "calculation_differences", "continuity_gaps",
             "closing_balance")
    html_exposure = {r["currency"]: r for r in page.tables["exposure"]}
    sheet = wb["Exposure"].iter_rows(values_only=True)
    head = [FIELD_OF[label] for label in next(sheet)]
    sheet_exposure = {r[0]: dict(zip(head, r)) for r in sheet}
    assert set(html_exposure) == set(sheet_exposure) == set(from_transactions)
    for cur, want in from_transactions.items():
        for key in ("exposure", "subscription_above", "subscription_below"):
            assert html_exposure[cur][key] == str(exact(want[key], cur)), (cur, key)
            assert f"{sheet_exposure[cur][key]:.{PLACES[cur]}f}" == str(exact(want[key], cur)), (cur, key)
        assert html_exposure[cur]["count_users"] == str(sheet_exposure[cur]["count_users"]) == str(
            want["count_users"])
    assert months
    expected = []
    for r in months:
        cur = r["currency"]
        credit, credit_vat = moved.get((cur, r["month"], "CREDIT"), (0, 0))
        debit, debit_vat = moved.get((cur, r["month"], "DEBIT"), (0, 0))
        assert r["opening_balance"] + r["first_seen_balances"] + credit - credit_vat - debit + debit_vat + \
            r["calculation_differences"] + r["continuity_gaps"] == r["closing_balance"]
        expected.append({"currency": cur, "month": r["month"], **{k: exact(r[k], cur) for k in money},
                         "total_credit": exact(credit, cur), "credit_vat": exact(credit_vat, cur),
                         "total_debit": exact(debit, cur), "debit_vat": exact(debit_vat, cur),
                         "net_movement": exact(credit - credit_vat - debit + debit_vat, cur),
                         "month_end_exposure": exact(at_end[r["month"]].get(cur, {}).get("exposure", 0), cur)})
    assert [{k: row[k] for k in expected[0]} for row in page.tables["rollforward"]] == [
        {k: str(v) for k, v in e.items()} for e in expected]
    got = sheet_rows(wb, "Summary")
    assert [(r["currency"], r["month"]) for r in got] == [(r["currency"], r["month"]) for r in months]
    for cells, want in zip(got, expected):
        places = PLACES[want["currency"]]
        for key, value in want.items():
            if key not in ("currency", "month"):
                assert f"{cells[key]:.{places}f}" == str(value), (want["currency"], want["month"], key)
        # the ageing splits the exposure (each bucket rounded on its own: within a minor unit per bucket)
        ageing = sum(Decimal(f"{cells[k]:.{places}f}") for k in AGE_BUCKETS)
        assert abs(ageing - want["month_end_exposure"]) <= Decimal(len(AGE_BUCKETS)).scaleb(-places)
    # the last month's ageing, now: the open episodes by days since first seen, from discrepancy_report
    with engine.connect() as conn:
        now = {(cur, bucket): int(total) for cur, bucket, total in conn.execute(text(
            "SELECT currency, CASE WHEN age_days <= 7 THEN 'exposure_age_0_7' WHEN age_days <= 30 THEN "
            "'exposure_age_8_30' WHEN age_days <= 90 THEN 'exposure_age_31_90' ELSE 'exposure_age_over_90' END, "
            "SUM(ABS(current_gap)) FROM discrepancy_report WHERE kind = 'out_of_sync' AND status = 'open' "
            "AND current_gap IS NOT NULL GROUP BY 1, 2"))}
    for cells in got:
        if cells["month"] == max(r["month"] for r in got if r["currency"] == cells["currency"]):
            cur = cells["currency"]
            assert {k: f"{cells[k]:.{PLACES[cur]}f}" for k in AGE_BUCKETS} == {
                k: str(exact(now.get((cur, k), 0), cur)) for k in AGE_BUCKETS}, cur


def test_every_file_is_named_below_the_export_folder(corpus, realistic_dir):
    """The workbook names each row's file by its path in the export, never by where the server keeps it."""
    _, paths = corpus
    wb = openpyxl.load_workbook(paths["report.xlsx"], read_only=True)
    files = {r["file"] for name in ("Reconciliation", "Overdrafts", "Anomalies") for r in sheet_rows(wb, name)}
    files.discard(None)  # an untied error names no file
    assert files and all(not os.path.isabs(f) and (realistic_dir / f).is_file() for f in files)


def test_weekly_reconciliation_equals_sql(corpus):
    """The last week: issues opened and resolved, from discrepancy_report; the episodes still open at the week's
    end and their exposure then, from the users' latest transactions before it; a partial week is marked."""
    engine, paths = corpus
    last = period(engine)
    tz = settings_mod.load(env_file=os.devnull).business_tz
    utc_from, utc_to = day_start_utc(last.monday, tz), day_start_utc(next_day(last.sunday), tz)
    rows = list(csv.DictReader(paths[f"reconciliation-{last.week}.csv"].open(encoding="utf-8", newline="")))
    with engine.connect() as conn:
        week = {"monday": last.monday, "sunday": last.sunday, "utc_from": utc_from, "utc_to": utc_to}
        opened = {(c, k): (n, s) for c, k, n, s in conn.execute(text(
            "SELECT currency, kind, COUNT(*), SUM(CASE WHEN kind = 'out_of_sync' THEN ABS(opening_gap) "
            "ELSE amount_at_stake END) FROM discrepancy_report WHERE business_date BETWEEN :monday AND :sunday "
            "AND kind <> 'untied_error' GROUP BY currency, kind"), week)}
        resolved = {(c, k): n for c, k, n in conn.execute(text(
            "SELECT currency, kind, COUNT(*) FROM discrepancy_report WHERE resolved_at >= :utc_from "
            "AND resolved_at < :utc_to GROUP BY currency, kind"), week)}
        at_end = exposure_from_transactions(conn, until=utc_to)
        first_day = conn.execute(text("SELECT MIN(business_date) FROM balance_events")).scalar_one()
    assert rows and at_end  # (on the real export no issue opens in its last week: the episodes are older)
    got = {(r["currency"], r["kind"]): (int(r["count_opened"]), r["amount_opened"]) for r in rows
           if int(r["count_opened"])}
    assert got == {key: (n, str(exact(s or 0, key[0]))) for key, (n, s) in opened.items()}
    assert {(r["currency"], r["kind"]): int(r["count_resolved"]) for r in rows if int(r["count_resolved"])} == \
        resolved
    still_open = {r["currency"]: (int(r["count_still_open"]), r["amount_still_open"]) for r in rows
                  if r["kind"] == "out_of_sync" and int(r["count_still_open"])}
    assert still_open == {cur: (e["count_users"], str(exact(e["exposure"], cur))) for cur, e in at_end.items()}
    partial = not (first_day <= last.monday and last.day >= last.sunday)
    assert {r["is_partial_week"] for r in rows} == {"true" if partial else "false"}
    html = paths[f"reconciliation-{last.week}.html"].read_text(encoding="utf-8")
    assert ('data-meta="partial_week"' in html) is partial


def test_daily_overdrafts_equal_sql(corpus):
    engine, paths = corpus
    last = period(engine)
    rows = list(csv.DictReader(paths[f"overdrafts-{last.day}.csv"].open(encoding="utf-8", newline="")))
    with engine.connect() as conn:
        # users whose last transaction (up to that day) left a balance, expected balance or wallet below zero
        below = conn.execute(text(
            "SELECT COUNT(*) FROM (SELECT user_id, currency, is_overdraft_actual, is_overdraft_expected, "
            "is_overdraft_wallet, ROW_NUMBER() OVER (PARTITION BY user_id, currency ORDER BY ts DESC, "
            "transaction_id DESC) AS rn FROM balance_events WHERE business_date <= :day) t "
            "WHERE rn = 1 AND (is_overdraft_actual OR is_overdraft_expected OR is_overdraft_wallet)"),
            {"day": last.day}).scalar_one()
    assert sum(r["status"] in ("new", "ongoing") for r in rows) == below > 0
    assert all(Decimal(r["overdraft_amount"]) > 0 for r in rows if r["status"] in ("new", "ongoing"))


# --- the real export's own figures --------------------------------------------------------------------------

def test_the_real_exports_reports_cover_2024_05_24_and_its_week(real_corpus):
    engine, paths = real_corpus
    assert period(engine) == Period("2024-05-24", "2024-W21", "2024-05-20", "2024-05-26")
    assert {"overdrafts-2024-05-24.csv", "reconciliation-2024-W21.csv", "reconciliation-2024-W21.html"} <= set(paths)


def test_the_real_exports_ledger_and_cards_hold_its_16300_transactions(real_corpus):
    _, paths = real_corpus
    wb = openpyxl.load_workbook(paths["report.xlsx"], read_only=True)
    readme = {r[0]: r[1] for r in wb["README"].iter_rows(values_only=True) if isinstance(r[1], int)}
    assert readme["Ledger"] == 16300
    assert Page(paths["report.html"].read_text(encoding="utf-8")).kpis[("count_transactions", None)] == "16300"


def test_the_real_exports_open_exposure(real_corpus):
    """Each out-of-sync user's current gap, once (issue #15): 100 BHD and 66 SAR users with a gap, not the 5.4
    million BHD that adding the gap once per transaction and row made; 1 and 3 more are out of sync on a legacy
    transaction, which prints no wallet (an unknown gap)."""
    _, paths = real_corpus
    page = Page(paths["report.html"].read_text(encoding="utf-8"))
    assert page.kpis[("open_exposure", "BHD")] == "75893.743"
    assert page.kpis[("open_exposure", "SAR")] == "332223.88"
    exposure = {r["currency"]: (r["count_users"], r["count_unknown_gap"]) for r in page.tables["exposure"]}
    assert (exposure["BHD"], exposure["SAR"]) == (("101", "1"), ("69", "3"))


def test_the_real_exports_last_week_is_partial(real_corpus):
    _, paths = real_corpus  # the data ends on Friday 2024-05-24
    rows = list(csv.DictReader(paths["reconciliation-2024-W21.csv"].open(encoding="utf-8", newline="")))
    assert rows and {r["is_partial_week"] for r in rows} == {"true"}
    assert 'data-meta="partial_week"' in paths["reconciliation-2024-W21.html"].read_text(encoding="utf-8")
