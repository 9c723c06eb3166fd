"""The dashboard's query functions on a realistic export (the real one when it is beside the checkout, else the
sample), on SQLite and PostgreSQL, cross-checked against the tables they read (computed independently in
Python); and the real export's own figures (skipped without it)."""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

import settings as settings_mod
import queries as q
from queries.base import discrepancy_report, user_balances
from queries.tables import discrepancy_transactions
from db import schema as s
from db.engine import make_engine

RANGE = q.Filters(date(2024, 1, 1), date(2024, 2, 29))


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _engine(request, sqlite_fixture: str, postgresql_fixture: str):
    url = request.getfixturevalue(sqlite_fixture if request.param == "sqlite" else postgresql_fixture)
    eng = make_engine(url, readonly=True)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request):
    """A realistic export: the real one when it is there, else the sample."""
    yield from _engine(request, "realistic_db", "realistic_db_pg")


@pytest.fixture(scope="module", params=BACKENDS)
def real_engine(request):
    """The real export (skipped without it), for its own figures."""
    yield from _engine(request, "corpus_db", "corpus_db_pg")


def _all(engine, stmt):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _count(engine, table) -> int:
    return _all(engine, select(func.count().label("n")).select_from(table))[0]["n"]


def test_freshness_describes_the_ingest(engine):
    fresh = q.freshness(engine)
    assert fresh.state == "ingested" and fresh.missing_derived == ()
    assert fresh.count_files == _count(engine, s.ingested_files) > 0 and fresh.count_damaged_files == 0
    pl = s.parsed_logs.c
    assert (fresh.first_date, fresh.last_date) == tuple(_all(engine, select(
        func.min(pl.business_date).label("first"), func.max(pl.business_date).label("last")))[0].values())
    assert fresh.last_run["status"] == "ok"
    be = s.balance_events.c
    assert q.currencies(engine) == sorted(r["currency"] for r in _all(engine, select(be.currency).distinct()))
    assert q.latest_business_date(engine) == fresh.last_date


def test_freshness_of_the_real_export(real_engine):
    fresh = q.freshness(real_engine)
    assert fresh.count_files == 1672
    assert (fresh.first_date, fresh.last_date) == ("2023-12-12", "2024-05-24")
    assert q.currencies(real_engine) == ["AED", "BHD", "KWD", "QAR", "SAR"]
    assert q.latest_business_date(real_engine) == "2024-05-24"


def test_discrepancy_filters_select_exactly_the_matching_rows(engine):
    every = q.discrepancies(engine)
    assert len(every) == _all(engine, select(func.count().label("n")).select_from(discrepancy_report))[0]["n"]
    f = q.Filters(date(2024, 1, 1), date(2024, 3, 31), "BHD", "a")
    got = q.discrepancies(engine, f, kind="out_of_sync", status="open")
    expected = [r for r in every if r["kind"] == "out_of_sync" and r["status"] == "open" and r["currency"] == "BHD"
                and "2024-01-01" <= r["business_date"] <= "2024-03-31" and "a" in (r["user_id"] or "").lower()]
    assert got and sorted(r["discrepancy_id"] for r in got) == sorted(r["discrepancy_id"] for r in expected)
    # newest business day first, then newest first seen, ties by id: the order the grid and the CSV share
    assert got == sorted(sorted(got, key=lambda r: r["discrepancy_id"]),
                         key=lambda r: (r["business_date"], r["first_seen_at"]), reverse=True)
    # an unknown kind from a URL is dropped, never used
    assert len(q.discrepancies(engine, kind="'; drop table x; --")) == len(every)


def test_exposure_is_the_open_episodes_current_gaps_with_direction_and_ageing(engine):
    d = discrepancy_report.c
    rows = _all(engine, select(d.currency, d.current_gap, d.age_days).where(d.kind == "out_of_sync",
                                                                             d.status == "open"))
    got = {e.currency: e for e in q.exposure(engine)}
    assert got and set(got) == {r["currency"] for r in rows}
    for cur, e in got.items():
        mine = [r for r in rows if r["currency"] == cur]
        gaps = [r["current_gap"] for r in mine if r["current_gap"] is not None]
        assert (e.count_open, e.exposure) == (len(mine), sum(abs(g) for g in gaps))
        assert (e.subscription_above, e.subscription_below) == (sum(g for g in gaps if g > 0),
                                                                 sum(-g for g in gaps if g < 0))
        assert e.subscription_above + e.subscription_below == e.exposure
        assert sum(n for n, _ in e.ageing.values()) == e.count_open
        assert sum(total for _, total in e.ageing.values()) == e.exposure
        over_90 = sum(1 for r in mine if r["age_days"] > 90)
        assert e.ageing.get("over 90 days", (0, 0))[0] == over_90


def test_exposure_as_of_a_past_day_is_what_was_open_then(engine):
    """Counted apart from the episodes: each user's last applied transaction up to that day, if out of sync."""
    be = s.balance_events.c
    errors = {r["transaction_id"] for r in _all(engine, select(s.not_in_sync_events.c.transaction_id))}
    day = (date.fromisoformat(q.data_last_day(engine)) - timedelta(days=7)).isoformat()
    rows = _all(engine, select(be.user_id, be.currency, be.transaction_id, be.new_balance, be.payment_balance)
                .where(be.user_id.isnot(None), be.business_date <= day,
                       func.coalesce(be.outcome, "") != "refused_negative_balance")
                .order_by(be.user_id, be.ts, be.transaction_id))
    last = {r["user_id"]: r for r in rows}
    expected: dict[str, list] = {}
    for r in last.values():
        wallet = r["payment_balance"]
        if r["transaction_id"] in errors or (wallet is not None and abs(wallet - r["new_balance"]) > 1000):
            n, total = expected.get(r["currency"], (0, 0))
            expected[r["currency"]] = (n + 1, total + (abs(r["new_balance"] - wallet) if wallet is not None else 0))
    got = {e.currency: (e.count_open, e.exposure) for e in q.exposure(engine, as_of=day)}
    assert got == expected and got != {e.currency: (e.count_open, e.exposure) for e in q.exposure(engine)}


def test_pages_sort_and_filter_in_sql_like_python_would(engine):
    every = q.discrepancies(engine)
    sort = [{"colId": "count_transactions", "sort": "desc"}]
    model = {"user_id": {"filterType": "text", "type": "contains", "filter": "A"},
             "count_transactions": {"filterType": "number", "type": "greaterThan", "filter": 0}}
    rows, total = q.page(engine, q.DISCREPANCIES, q.Filters(), start=10, end=20, sort_model=sort, filter_model=model)
    matching = [r for r in every if "a" in (r["user_id"] or "").lower() and r["count_transactions"] > 0]
    # the asked order, then the default one (newest business day, newest first seen, then the id)
    expected = sorted(sorted(sorted(matching, key=lambda r: r["discrepancy_id"]),
                             key=lambda r: (r["business_date"], r["first_seen_at"]), reverse=True),
                      key=lambda r: -r["count_transactions"])
    assert total == len(expected) > 20
    assert [r["discrepancy_id"] for r in rows] == [r["discrepancy_id"] for r in expected[10:20]]
    big, _ = q.page(engine, q.DISCREPANCIES, q.Filters(), start=0, end=100_000)
    assert len(big) == min(500, len(every))  # the server caps a page whatever the browser asks
    # the count is exact on every page, whatever the page's size, and the same as counting the rows
    assert q.page(engine, q.DISCREPANCIES, q.Filters(), end=5)[1] == len(every)
    last = len(every) - 5
    assert q.page(engine, q.DISCREPANCIES, q.Filters(), start=last, end=last + 20)[1] == len(every)
    assert q.count_rows(engine, q.DISCREPANCIES, q.Filters(), filter_model=model) == len(expected)
    events = q.overdraft_events(engine)  # a union of two parts: each part counted
    assert q.count_rows(engine, q.OVERDRAFT_EVENTS, q.Filters()) == len(events)
    assert q.count_rows(engine, q.OVERDRAFT_EVENTS, q.Filters(), reason="guard") == \
        sum(e["reason"] == "guard" for e in events)


def test_flow_totals_match_the_transactions_per_currency(engine):
    be = s.balance_events.c
    raw = _all(engine, select(be.currency, be.type, be.amount, be.vat)
               .where(be.business_date >= "2024-01-01", be.business_date <= "2024-02-29"))
    want: dict[str, Counter] = defaultdict(Counter)
    for r in raw:
        w = want[r["currency"]]
        w["count_transactions"] += 1
        w["total_vat"] += r["vat"] or 0
        net = (r["amount"] or 0) - (r["vat"] or 0)
        if r["type"] == "CREDIT":
            w["count_credits"] += 1
            w["total_credit"] += r["amount"] or 0
            w["vat_credit"] += r["vat"] or 0
            w["net_change"] += net
        elif r["type"] == "DEBIT":
            w["count_debits"] += 1
            w["total_debit"] += r["amount"] or 0
            w["vat_debit"] += r["vat"] or 0
            w["net_change"] -= net
    got = {t.pop("currency"): t for t in q.flow_totals(engine, RANGE)}
    assert set(got) == set(want)
    for cur, totals in got.items():  # one row per currency: money is never added across currencies
        assert {k: v for k, v in totals.items() if v} == {k: v for k, v in want[cur].items() if v}, cur
        # the figures a card shows add up: (credits − their VAT) − (debits − their VAT) = net change
        assert (totals["total_credit"] - totals["vat_credit"]) - (totals["total_debit"] - totals["vat_debit"]) \
            == totals["net_change"], cur
    weekly = q.flow_series(engine, RANGE, "week")
    assert {r["period"] for r in weekly} <= {f"2024-{m:02d}-{d:02d}" for m in (1, 2) for d in range(1, 32)} | \
        {"2023-12-25"}
    assert sum(r["count_transactions"] for r in weekly) == len(raw)
    assert sum(r["count_transactions"] for r in q.volume_by_source_action(engine, RANGE)) == len(raw)
    assert sum(r["count_transactions"] for r in q.transactions_per_day(engine, RANGE)) == len(raw)


def test_overdraft_events_are_the_flagged_transactions_and_the_lambdas_refusals(engine):
    be = s.balance_events.c
    flagged = _all(engine, select(be.transaction_id, be.currency).where(
        (be.is_overdraft_actual == True) | (be.is_overdraft_expected == True)  # noqa: E712
        | (be.is_overdraft_wallet == True) | (be.is_overdraft_crossing == True)))  # noqa: E712
    guards = _all(engine, select(s.negative_balance_guards.c.event_id))
    events = q.overdraft_events(engine)
    assert len(events) == len(flagged) + len(guards)
    assert Counter(e["reason"] == "guard" for e in events)[True] == len(guards)
    only_guards = q.overdraft_events(engine, reason="guard")
    assert len(only_guards) == len(guards)
    for e in only_guards:  # a refusal names no currency: it comes from the user's transactions, when there are any
        has_tx = _all(engine, select(be.currency).where(be.user_id == e["user_id"]).limit(1))
        assert bool(e["currency"]) == bool(has_tx)
    bhd = q.overdraft_events(engine, q.Filters(currency="BHD"), reason="wallet")
    assert bhd and all(e["currency"] == "BHD" and "wallet" in e["reason"] for e in bhd)
    per_day = q.overdrafts_per_day(engine)
    assert sum(r["count_events"] for r in per_day) == len(events)
    negative = q.overdrawn_users(engine)
    ub = user_balances.c
    want = _all(engine, select(ub.user_id).where((ub.balance < 0) | (ub.payment_balance < 0)))
    assert len(negative) == len(want) > 0
    summary = q.overdraft_summary(engine)
    assert sum(r["count_wallet_users"] for r in summary) == sum(1 for r in negative if r["payment_balance"] < 0)
    # each side has its own since-date, exactly when that side is below zero now
    for r in negative:
        assert (r["overdrawn_since"] is not None) == (r["balance"] < 0), r
        assert (r["wallet_overdrawn_since"] is not None) == (r["payment_balance"] is not None
                                                             and r["payment_balance"] < 0), r
        assert (r["wallet_overdrawn_since"] or "") <= r["last_seen_at"]
    # the grid's order: per currency, the negative figure that lists the user (the balance, else the wallet)
    page, _ = q.page(engine, q.OVERDRAWN_USERS, q.Filters(), end=500)
    for r in page:
        figures = [v for v in (r["balance"] if r["negative"] != "wallet" else None,
                               r["payment_balance"] if r["negative"] != "balance" else None) if v is not None]
        assert r["negative_amount"] == min(figures) < 0, r
    assert [(r["currency"], r["negative_amount"]) for r in page] == \
        sorted((r["currency"], r["negative_amount"]) for r in page)


# the earliest: a SAR user whose every printed wallet, from its first full-schema block on, was below zero
FIRST_NEGATIVE_WALLET, FIRST_NEGATIVE_WALLET_SINCE = "34ba33ca-e3cd-4897-b0b0-771c0ea7407a", "2023-12-26T21:01:03.511Z"


def test_the_real_exports_negative_wallets_have_their_own_since_date(real_engine):
    """53 users' payment wallet is below zero while their balance is not: each has a wallet since-date."""
    negative = q.overdrawn_users(real_engine)
    wallets = [r for r in negative if r["payment_balance"] is not None and r["payment_balance"] < 0]
    assert len(wallets) == 53
    assert [r["user_id"] for r in wallets if r["overdrawn_since"] or not r["wallet_overdrawn_since"]] == []
    first = min(wallets, key=lambda r: r["wallet_overdrawn_since"])
    assert (first["user_id"], first["wallet_overdrawn_since"]) == (FIRST_NEGATIVE_WALLET, FIRST_NEGATIVE_WALLET_SINCE)


def test_a_users_ledger_has_every_transaction_with_checks_and_provenance(engine):
    d = discrepancy_report.c
    user = _all(engine, select(d.user_id, func.count().label("n")).group_by(d.user_id)
                .order_by(func.count().desc(), d.user_id).limit(1))[0]["user_id"]
    ledger = q.user_ledger(engine, user)
    be = s.balance_events.c
    assert len(ledger) == _all(engine, select(func.count().label("n")).where(be.user_id == user))[0]["n"]
    assert all(r["file"] and r["line_no"] for r in ledger)
    assert all(r["expected_new_balance"] is not None for r in ledger)
    t = q.DISCREPANCY_TRANSACTIONS  # the episodes' transactions (and the ones that resolved them), and the breaks
    members = _all(engine, select(discrepancy_transactions.c.transaction_id).where(
        discrepancy_transactions.c.user_id == user))
    breaks = _all(engine, select(d.first_transaction_id.label("transaction_id")).where(
        d.user_id == user, d.kind.in_(("calculation", "continuity"))))
    linked = {r["transaction_id"] for r in members + breaks}
    assert t and {r["transaction_id"] for r in ledger if r["discrepancies"]} == linked
    history = q.balance_history(engine, user)
    assert [h["transaction_id"] for h in history] == [r["transaction_id"] for r in reversed(ledger)]
    assert q.user_summary(engine, user) and q.user_exists(engine, user) and not q.user_exists(engine, "nobody")
    assert q.user_discrepancies(engine, user)


def test_the_busiest_user_is_the_busiest_of_the_period(engine):
    be = s.balance_events.c
    def busiest(*conds):
        n = func.count()
        found = _all(engine, select(be.user_id, n.label("n")).where(*conds).group_by(be.user_id)
                     .order_by(n.desc(), be.user_id).limit(1))
        return found[0]["user_id"] if found else None
    day = _all(engine, select(func.max(be.business_date).label("d")))[0]["d"]
    one_day = q.Filters.clean(day, day)
    assert q.busiest_user(engine, one_day) == busiest(be.business_date == day)
    part = busiest(be.business_date == day)[:6]
    assert q.busiest_user(engine, one_day, part.upper()) == busiest(be.business_date == day,
                                                                    be.user_id.icontains(part))
    assert q.busiest_user(engine, q.Filters.clean("1999-01-01", "1999-01-31")) is None  # nobody then
    assert q.busiest_user(engine, q.Filters(), "no-such-user-id") is None
    assert q.busiest_user(engine, q.Filters()) == q.find_users(engine, None, limit=1)[0]["user_id"]


def test_anomalies_and_health(engine):
    counts = q.anomaly_counts(engine)
    assert sum(c["count_anomalies"] for c in counts) == len(q.anomaly_findings(engine))
    detector = counts[0]["detector"]
    found = q.anomaly_findings(engine, detector=detector, severity=counts[0]["severity"])
    assert len(found) == counts[0]["count_anomalies"] and all(f["explanation"] for f in found)
    assert detector in q.detectors(engine)
    assert sum(r["count_anomalies"] for r in q.anomalies_per_day(engine)) == len(q.anomaly_findings(engine))
    health = q.health_per_day(engine, RANGE)
    assert health and all("2024-01-01" <= h["business_date"] <= "2024-02-29" for h in health)
    skips = q.skips_per_day(engine)
    pl = s.parsed_logs.c
    assert sum(r["count_events"] for r in skips) == _all(engine, select(func.count().label("n")).where(
        pl.kind.startswith("skip_", autoescape=True)))[0]["n"] > 0
    errors = q.errors_per_day(engine)
    assert {r["kind"] for r in errors} <= set(q.ERROR_KINDS) and errors
    totals = q.ingest_totals(engine)
    assert totals["count_files"] == _count(engine, s.ingested_files) and totals["count_runs"] >= 1


def test_skips_and_files_of_the_real_export(real_engine):
    assert sum(r["count_events"] for r in q.skips_per_day(real_engine)) == 559 + 11 + 489 + 456
    assert q.ingest_totals(real_engine)["count_files"] == 1672


def test_pages_of_the_real_export_are_capped(real_engine):
    """The real export has more discrepancies than a page holds: the cap bites."""
    every = q.discrepancies(real_engine)
    assert len(every) > 500
    big, _ = q.page(real_engine, q.DISCREPANCIES, q.Filters(), start=0, end=100_000)
    assert len(big) == 500


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


def test_a_database_without_derived_tables_says_so(realistic_dir, sqlite_url):
    from pipeline import run
    one_stream = next(p for p in sorted(realistic_dir.rglob("000000.gz")))
    run([str(one_stream)], settings_mod.load(env_file=os.devnull, DATABASE_URL=sqlite_url), transform=False)
    engine = make_engine(sqlite_url, readonly=True)
    fresh = q.freshness(engine)
    assert fresh.state == "ingested" and set(fresh.missing_derived) == set(q.DERIVED_TABLE_NAMES)
    with pytest.raises(q.MissingTables) as exc:
        q.discrepancies(engine)
    assert exc.value.derived_only
    assert q.page(engine, q.INGESTED_FILES, q.Filters())[1] == 1  # ingest tables still answer


def test_a_missing_database_file_is_reported_not_created(tmp_path):
    path = tmp_path / "nothing-here.db"
    engine = make_engine(f"sqlite:///{path}", readonly=True)
    assert q.freshness(engine).state == "missing"
    with pytest.raises(q.MissingTables) as exc:
        q.page(engine, q.DISCREPANCIES, q.Filters())
    assert not exc.value.derived_only
    assert q.currencies(engine) == [] and q.latest_business_date(engine) is None
    assert not path.exists()


@pytest.mark.parametrize("f", [q.Filters(), RANGE, q.Filters(currency="BHD"),
                               q.Filters(date(2024, 3, 1), date(2024, 3, 31), "SAR")], ids=str)
def test_daily_rollups_agree_with_sql(engine, f):
    """Without a user search the aggregates come from per-day roll-ups; they must equal the SQL GROUP BYs."""
    from importlib import import_module  # the package re-exports functions under the modules' names
    anomalies, overdrafts = (import_module(f"queries.{m}") for m in ("anomalies", "overdrafts"))
    for reason in (None, "wallet", "actual", "guard"):
        assert q.overdrafts_per_day(engine, f, reason) == overdrafts._per_day_sql.uncached(engine, f, reason), reason
    for detector, severity in ((None, None), ("amount_spike", None), (None, "high")):
        assert q.anomaly_counts(engine, f, detector, severity) == \
            anomalies._counts_sql.uncached(engine, f, detector, severity)
        assert q.anomalies_per_day(engine, f, detector, severity) == \
            anomalies._per_day_sql.uncached(engine, f, detector, severity)


@pytest.mark.parametrize("reason", [None, "actual"])
@pytest.mark.parametrize("filters", [q.Filters(), RANGE], ids=["all-time", "range"])
def test_counting_overdraft_events_reads_the_overdraft_index_not_every_transaction(realistic_db, filters, reason):
    """The grid's count (the slowest request of the tab at 100x before migration 0013) seeks in the partial
    index of the flagged transactions; that it counts the same rows is the test above."""
    eng = make_engine(realistic_db, readonly=True)
    _, counting = q.OVERDRAFT_EVENTS.page_statements(filters, 20, reason=reason)
    with eng.connect() as conn:
        stmt = select(func.count()).select_from(counting[0].subquery())
        sql = str(stmt.compile(eng, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    eng.dispose()
    assert "USING INDEX ix_balance_events_overdraft" in plan or "USING COVERING INDEX ix_balance_events_overdraft" \
        in plan, plan
