"""A small hand-made database for the report tests, with every figure known in advance.

`build_fixture(url)` migrates an empty database, fills the ingest tables
reports read and creates the derived tables from the contract in
docs/reports.md (as transform/ will build them), with rows chosen to exercise
the rules: half-up rounding per currency (82.7265 BHD -> 82.727, 70.005 SAR
-> 70.01), a user id that is a spreadsheet formula, a discrepancy resolved
just after a week ends in business time, a test user, overdrafts that are
new, ongoing and resolved.

The test in this file checks that contract against transform/ once it exists.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import (BigInteger, Boolean, Column, Float, Integer, MetaData, String, Table, Text, inspect,
                        insert)

from db import schema as s
from db.engine import make_engine
from db.migrate import upgrade

BUSINESS_TZ = timezone(timedelta(hours=3))
FORMULA_USER = '=HYPERLINK("http://evil.example","x")'


def m(text: str | None) -> int | None:
    """'82.7265' -> micro-units."""
    return None if text is None else int(Decimal(text) * 1_000_000)


def _ms(ts: str) -> int:
    return int(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000)


def _bdate(ts: str) -> str:
    return datetime.fromtimestamp(_ms(ts) / 1000, timezone.utc).astimezone(BUSINESS_TZ).date().isoformat()


# (id, ts, user, currency, type, source, amount, vat, old, new, payment) -- and overrides
TRANSACTIONS = [
    ("T01", "2024-01-08T06:00:00.000Z", "user-a", "BHD", "CREDIT", "PAYMENT", "100", "0", "0", "100", "100"),
    ("T04", "2024-01-07T21:01:00.200Z", "user-b", "SAR", "DEBIT", "MANUAL_DEDUCTION", "115", "15", "50", "-50", "-50"),
    ("T02", "2024-01-08T21:01:00.000Z", "user-a", "BHD", "DEBIT", "MANUAL_DEDUCTION", "11", "1", "100", "90", "90"),
    ("T05", "2024-01-09T10:00:00.000Z", "user-b", "SAR", "CREDIT", "PAYMENT", "20", "0", "-50", "-30", "-30"),
    ("T03", "2024-01-09T21:01:00.100Z", "user-c", "BHD", "DEBIT", "MANUAL_DEDUCTION", "5.5", "0.5", "2", "-3", "-3"),
    ("T08", "2024-01-10T08:00:00.000Z", FORMULA_USER, "SAR", "DEBIT", "MANUAL_DEDUCTION", "12", "0", "10", "-2", "-2"),
    ("T06", "2024-01-10T10:00:00.000Z", "user-b", "SAR", "CREDIT", "PAYMENT", "100", "0", "-30", "70", "70.005"),
    ("T07", "2024-01-10T12:00:00.000Z", "user-a", "BHD", "DEBIT", "MANUAL_DEDUCTION", "8", "0", "90", "82.7265",
     "82.7265"),
    ("T10", "2024-01-12T09:30:00.000Z", "random-uuid", "BHD", "CREDIT", "MANUAL_ADDITION", "1", "0", "0", "1", "1"),
    ("T09", "2024-01-15T07:00:00.000Z", "user-a", "BHD", "DEBIT", "MANUAL_DEDUCTION", "1", "0", "80", "79", "79"),
]


def balance_event_rows() -> list[dict]:
    rows, prev = [], {}
    for i, (tid, ts, user, cur, typ, src, amount, vat, old, new, pay) in enumerate(
            sorted(TRANSACTIONS, key=lambda t: t[1]), start=1):
        net = m(amount) - m(vat)
        change = -net if typ == "DEBIT" else net
        expected = m(old) + change
        diff = m(new) - expected
        key = (user, cur)
        prev_new = prev.get(key)
        over_actual, over_expected, over_wallet = m(new) < 0, expected < 0, m(pay) < 0
        was_over = prev_new is not None and prev_new < 0
        reason = ("actual" if over_actual else "expected" if over_expected else "wallet" if over_wallet else None)
        rows.append({
            "transaction_id": tid, "ts": ts, "ts_ms": _ms(ts), "business_date": _bdate(ts), "user_id": user,
            "currency": cur, "type": typ, "type_inferred": False, "schema": "full", "source": src,
            "action": None, "amount": m(amount), "amount_text": amount, "vat": m(vat), "vat_text": vat,
            "old_balance": m(old), "old_balance_text": old, "new_balance": m(new), "new_balance_text": new,
            "payment_balance": m(pay), "payment_balance_text": pay, "is_float_noise": False,
            "update_payment_balance": True, "metadata": '{"note": "fixture"}', "metadata_is_json": True,
            "request_id": f"req-{tid}", "message_id": f"msg-{tid}", "event_id": i, "file_id": 1, "line_no": i * 10,
            "net_change": change, "expected_new_balance": expected, "calc_difference": diff,
            "is_calc_mismatch": abs(diff) > 1000, "suggested_adjustment": -diff if abs(diff) > 1000 else 0,
            "user_seq": sum(1 for r in rows if (r["user_id"], r["currency"]) == key) + 1,
            "prev_new_balance": prev_new, "is_continuity_break": prev_new is not None and prev_new != m(old),
            "continuity_gap": None if prev_new is None else m(old) - prev_new,
            "is_overdraft_actual": over_actual, "is_overdraft_expected": over_expected,
            "is_overdraft_wallet": over_wallet,
            "is_overdraft_crossing": bool(reason) and not was_over, "overdraft_reason": reason,
        })
        prev[key] = m(new)
    return rows


DISCREPANCIES = [
    # id, kind, status, user, cur, tx, detected_at, sub, pay, diff, stake, resolved_at, explanation
    ("D1", "calculation", "open", "user-a", "BHD", "T07", "2024-01-10T12:00:00.000Z", "82.7265", "82.7265", "0.7265",
     "0.7265", None, "new_balance 82.7265 of user-a differs from the expected 82"),
    ("D2", "sync", "resolved", "user-b", "SAR", "T04", "2024-01-07T21:01:00.300Z", "-50", "50", "-100", "100",
     "2024-01-10T10:00:00.000Z", "subscription -50 vs payment 50 for user-b"),
    ("D3", "wallet", "open", "user-b", "SAR", "T06", "2024-01-10T10:00:00.000Z", "70", "70.005", "-0.005", "0.005",
     None, "payment wallet 70.005 differs from new_balance 70"),
    ("D4", "continuity", "open", "user-a", "BHD", "T09", "2024-01-15T07:00:00.000Z", "80", "80", "-2.7265",
     "2.7265", None, "old_balance 80 differs from the previous new_balance 82.7265"),
    # resolved at 00:30 business time on Monday 2024-01-15: after the end of week 2024-W02
    ("D5", "sync", "resolved", FORMULA_USER, "SAR", "T08", "2024-01-10T08:00:00.000Z", "-2", "0", "-2", "2",
     "2024-01-14T21:30:00.000Z", f"user {FORMULA_USER} below zero"),
    ("D6", "sync", "resolved", "user-b", "SAR", None, "2024-01-03T09:00:00.000Z", "10", "4.5", "5.5", "5.5",
     "2024-01-09T12:00:00.000Z", "opened the week before"),
]

ANOMALIES = [
    # id, fingerprint, detector, severity, user, cur, tx, detected_at, score, amount, explanation
    ("A1", "fp-large-T04", "large_amount", "high", "user-b", "SAR", "T04", "2024-01-07T21:01:00.200Z", 4.2, "115",
     "115.00 SAR is 4.2 times the user's usual debit"),
    ("A2", "fp-burst-a", "burst", "medium", "user-a", "BHD", "T02", "2024-01-08T21:01:00.000Z", 2.5, "11",
     "3 debits within a minute"),
    ("A3", "fp-round-c", "round_amount", "low", "user-c", "BHD", "T03", "2024-01-09T21:01:00.100Z", 1.0, "5.5",
     "round amount"),
    ("A4", "fp-formula", "negative_balance", "high", FORMULA_USER, "SAR", "T08", "2024-01-10T08:00:00.000Z", 3.0,
     "12", f"{FORMULA_USER} went below zero"),
]

HEALTH = [
    ("2024-01-08", 40, 3, 120.5, 900.0, 1500.0, 350.0, 420.0, 90, 128, 1, 2, 3),
    ("2024-01-09", 35, 1, 110.0, 800.0, 1400.0, 360.0, 360.0, 88, 128, 0, 1, 2),
    ("2024-01-10", 50, 2, 130.0, 950.0, 2000.0, 340.0, 400.0, 95, 128, 2, 0, 4),
]

derived = MetaData()
Money = BigInteger

T_USER_BALANCES = Table(
    "user_balances", derived,
    Column("user_id", String(64)), Column("currency", String(8)), Column("balance", Money),
    Column("payment_balance", Money), Column("first_seen_at", String(24)), Column("last_seen_at", String(24)),
    Column("last_transaction_id", String(40)), Column("count_transactions", Integer),
    Column("count_debits", Integer), Column("count_credits", Integer), Column("total_debit", Money),
    Column("total_credit", Money), Column("total_vat", Money), Column("is_overdrawn", Boolean),
    Column("overdrawn_since", String(24)), Column("count_discrepancies", Integer),
    Column("count_open_discrepancies", Integer), Column("count_continuity_breaks", Integer),
    Column("count_anomalies", Integer), Column("is_test_user", Boolean), Column("count_currencies", Integer))
T_DISCREPANCY_REPORT = Table(
    "discrepancy_report", derived,
    Column("discrepancy_id", String(40)), Column("kind", String(16)), Column("status", String(16)),
    Column("user_id", String(64)), Column("currency", String(8)), Column("transaction_id", String(40)),
    Column("event_id", BigInteger), Column("detected_at", String(24)), Column("business_date", String(10)),
    Column("subscription_balance", Money), Column("payment_balance", Money), Column("difference", Money),
    Column("amount_at_stake", Money), Column("first_seen_at", String(24)), Column("last_seen_at", String(24)),
    Column("resolved_at", String(24)), Column("file_id", Integer), Column("line_no", Integer),
    Column("explanation", Text))
T_ANOMALIES = Table(
    "anomalies", derived,
    Column("anomaly_id", String(40)), Column("fingerprint", String(128)), Column("detector", String(40)),
    Column("severity", String(8)), Column("user_id", String(64)), Column("currency", String(8)),
    Column("transaction_id", String(40)), Column("detected_at", String(24)), Column("business_date", String(10)),
    Column("score", Float), Column("amount", Money), Column("parameters", Text), Column("explanation", Text),
    Column("file_id", Integer), Column("line_no", Integer))
T_DAILY_FLOWS = Table(
    "daily_flows", derived,
    Column("business_date", String(10)), Column("currency", String(8)), Column("type", String(16)),
    Column("source", String(40)), Column("action", String(64)), Column("count_transactions", Integer),
    Column("total_amount", Money), Column("total_vat", Money), Column("total_net", Money),
    Column("count_users", Integer))
T_DAILY_HEALTH = Table(
    "daily_health", derived,
    Column("business_date", String(10)), Column("count_invocations", Integer), Column("count_cold_starts", Integer),
    Column("p50_duration_ms", Float), Column("p95_duration_ms", Float), Column("max_duration_ms", Float),
    Column("avg_init_duration_ms", Float), Column("max_init_duration_ms", Float),
    Column("max_memory_used_mb", Integer), Column("memory_size_mb", Integer), Column("count_errors", Integer),
    Column("count_skips", Integer), Column("count_not_in_sync", Integer))


def _user_balances(events: list[dict]) -> list[dict]:
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for e in events:
        by_key[(e["user_id"], e["currency"])].append(e)
    out = []
    for (user, cur), evs in sorted(by_key.items()):
        last = evs[-1]
        since = None
        for e in evs:
            if e["is_overdraft_actual"]:
                since = since or e["ts"]
            else:
                since = None
        debits = [e for e in evs if e["type"] == "DEBIT"]
        credits = [e for e in evs if e["type"] == "CREDIT"]
        out.append({
            "user_id": user, "currency": cur, "balance": last["new_balance"],
            "payment_balance": last["payment_balance"], "first_seen_at": evs[0]["ts"], "last_seen_at": last["ts"],
            "last_transaction_id": last["transaction_id"], "count_transactions": len(evs),
            "count_debits": len(debits), "count_credits": len(credits),
            "total_debit": sum(e["amount"] for e in debits), "total_credit": sum(e["amount"] for e in credits),
            "total_vat": sum(e["vat"] for e in evs), "is_overdrawn": last["new_balance"] < 0,
            "overdrawn_since": since if last["new_balance"] < 0 else None,
            "count_discrepancies": sum(1 for d in DISCREPANCIES if d[3] == user),
            "count_open_discrepancies": sum(1 for d in DISCREPANCIES if d[3] == user and d[2] == "open"),
            "count_continuity_breaks": sum(1 for e in evs if e["is_continuity_break"]),
            "count_anomalies": sum(1 for a in ANOMALIES if a[4] == user),
            "is_test_user": user == "random-uuid", "count_currencies": 1,
        })
    return out


def _daily_flows(events: list[dict]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for e in events:
        key = (e["business_date"], e["currency"], e["type"], e["source"], e["action"])
        g = groups.setdefault(key, {"business_date": key[0], "currency": key[1], "type": key[2], "source": key[3],
                                    "action": key[4], "count_transactions": 0, "total_amount": 0, "total_vat": 0,
                                    "total_net": 0, "users": set()})
        g["count_transactions"] += 1
        g["total_amount"] += e["amount"]
        g["total_vat"] += e["vat"]
        g["total_net"] += e["amount"] - e["vat"]
        g["users"].add(e["user_id"])
    return [{**{k: v for k, v in g.items() if k != "users"}, "count_users": len(g["users"])}
            for _, g in sorted(groups.items(), key=lambda kv: tuple(x or "" for x in kv[0]))]


# The Lambda's negative-balance guard refusing a debit of user-c (already below zero) on 2024-01-11.
GUARDS = [(900, "2024-01-11T09:00:00.000Z", "user-c", "T11", "-3")]

PARSED = [
    # event_id, ts, kind, level, user, text, payload
    (1, "2024-01-07T21:01:00.200Z", "sync", "INFO", "user-b", "Start syncing the balance", '{"userId": "user-b"}'),
    (2, "2024-01-10T08:00:00.000Z", "sync", "INFO", FORMULA_USER, f"Start syncing for {FORMULA_USER}",
     '{"amount": 12}'),
    (3, "2024-01-10T08:00:00.050Z", "report", None, None, "REPORT RequestId: req-T08 Duration: 12.5 ms", None),
]


def build_fixture(url: str) -> str:
    """Create the fixture database at `url` (empty) and return the url."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        derived.create_all(engine)
        events = balance_event_rows()
        with engine.begin() as conn:
            conn.execute(insert(s.ingest_runs), [{"run_id": 1, "started_at": "2024-01-16T00:00:00.000Z",
                                                  "status": "ok"}])
            conn.execute(insert(s.ingested_files), [{"file_id": 1, "path": "/fixture/000000.gz",
                                                     "content_hash": "0" * 64, "status": "ok", "run_id": 1}])
            conn.execute(insert(s.balance_events), events)
            conn.execute(insert(s.parsed_logs), [
                {"event_id": eid, "file_id": 1, "line_no": eid * 10, "ts": ts, "ts_ms": _ms(ts),
                 "business_date": _bdate(ts), "kind": kind, "level": level, "user_id": user,
                 "parse_status": "ok", "text": text, "payload": payload, "request_id": None}
                for eid, ts, kind, level, user, text, payload in PARSED])
            conn.execute(insert(s.negative_balance_guards), [
                {"event_id": eid, "ts": ts, "ts_ms": _ms(ts), "business_date": _bdate(ts), "user_id": user,
                 "transaction_id": tx, "current_balance": m(bal), "current_balance_text": bal, "file_id": 1,
                 "line_no": 90, "message": "Subscriber will have a negative balance due to this action"}
                for eid, ts, user, tx, bal in GUARDS])
            conn.execute(insert(T_USER_BALANCES), _user_balances(events))
            conn.execute(insert(T_DISCREPANCY_REPORT), [
                {"discrepancy_id": did, "kind": kind, "status": status, "user_id": user, "currency": cur,
                 "transaction_id": tx, "event_id": None, "detected_at": at, "business_date": _bdate(at),
                 "subscription_balance": m(sub), "payment_balance": m(pay), "difference": m(diff),
                 "amount_at_stake": m(stake), "first_seen_at": at, "last_seen_at": resolved or at,
                 "resolved_at": resolved, "file_id": 1, "line_no": 7, "explanation": expl}
                for did, kind, status, user, cur, tx, at, sub, pay, diff, stake, resolved, expl in DISCREPANCIES])
            conn.execute(insert(T_ANOMALIES), [
                {"anomaly_id": aid, "fingerprint": fp, "detector": det, "severity": sev, "user_id": user,
                 "currency": cur, "transaction_id": tx, "detected_at": at, "business_date": _bdate(at),
                 "score": score, "amount": m(amount), "parameters": '{"threshold": 3}', "explanation": expl,
                 "file_id": 1, "line_no": 9}
                for aid, fp, det, sev, user, cur, tx, at, score, amount, expl in ANOMALIES])
            conn.execute(insert(T_DAILY_FLOWS), _daily_flows(events))
            conn.execute(insert(T_DAILY_HEALTH), [dict(zip([c.name for c in T_DAILY_HEALTH.columns], h))
                                                  for h in HEALTH])
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def report_db(request, tmp_path_factory) -> str:
    """The fixture database, built once per test module on SQLite and on the throwaway PostgreSQL."""
    if request.param == "sqlite":
        return build_fixture(f"sqlite:///{tmp_path_factory.mktemp('reportdb') / 'fixture.db'}")
    return build_fixture(request.getfixturevalue("pg_server").create_database())


@pytest.fixture(scope="module")
def report_settings(report_db):
    import os

    import settings as settings_mod
    return settings_mod.load(env_file=os.devnull, DATABASE_URL=report_db, BUSINESS_TZ="+03:00",
                             CURRENCY_PRECISION="BHD=3,KWD=3,OMR=3,SAR=2,AED=2,QAR=2",
                             PSEUDONYMISE_KEY="fixture-key")


@pytest.fixture(scope="module")
def report_engine(report_db):
    engine = make_engine(report_db, readonly=True)
    yield engine
    engine.dispose()


def test_fixture_matches_transform_contract(realistic_db):
    """The derived tables transform/ builds have at least the columns the fixture (and reports) rely on."""
    if not hasattr(pytest.importorskip("transform"), "build_all"):
        pytest.skip("transform/ has not landed yet: no transform.build_all")
    engine = make_engine(realistic_db, readonly=True)
    try:
        found = {t: {c["name"] for c in inspect(engine).get_columns(t)} for t in inspect(engine).get_table_names()}
    finally:
        engine.dispose()
    for table in derived.sorted_tables:
        assert table.name in found, f"transform did not build {table.name}"
        assert {c.name for c in table.columns} <= found[table.name], table.name
