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
from test_reports_html import Page

PLACES = {"BHD": 3, "KWD": 3, "OMR": 3, "SAR": 2, "AED": 2, "QAR": 2}


def exact(micros, currency) -> Decimal:
    return (Decimal(int(micros)) / 1_000_000).quantize(Decimal(1).scaleb(-PLACES[currency]), rounding=ROUND_HALF_UP)


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
    header = next(rows)
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
        for cur, stake in conn.execute(text("SELECT currency, SUM(amount_at_stake) FROM discrepancy_report "
                                            "WHERE status = 'open' GROUP BY currency")):
            assert page.kpis[("open_amount_at_stake", cur)] == str(exact(stake, cur))


def test_weekly_reconciliation_equals_sql(corpus):
    engine, paths = corpus
    last = period(engine)
    rows = list(csv.DictReader(paths[f"reconciliation-{last.week}.csv"].open(encoding="utf-8", newline="")))
    with engine.connect() as conn:
        opened = {(c, k): (n, s) for c, k, n, s in conn.execute(text(
            "SELECT currency, kind, COUNT(*), SUM(amount_at_stake) FROM discrepancy_report "
            "WHERE business_date BETWEEN :monday AND :sunday GROUP BY currency, kind"),
            {"monday": last.monday, "sunday": last.sunday})}
    assert opened
    got = {(r["currency"], r["kind"]): (int(r["count_opened"]), r["amount_opened"]) for r in rows
           if int(r["count_opened"])}
    assert got == {key: (n, str(exact(s, key[0]))) for key, (n, s) in opened.items()}


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
