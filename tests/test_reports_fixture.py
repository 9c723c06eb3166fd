"""A small hand-made database for the report tests, with every figure known in advance.

`build_fixture(url)` migrates an empty database, fills the ingest tables
reports read and creates the derived tables as transform/ declares them
(transform/tables.py, docs/transforms.md), with rows worked out by hand from
the fixture's transactions and chosen to exercise the rules: half-up rounding
per currency (82.7265 BHD -> 82.727, 70.005 SAR -> 70.01) applied once to a sum
(three open BHD gaps of 0.0015, 0.0015 and 3 are 3.003, not 3.004), a user id
that is a spreadsheet formula, an out-of-sync episode resolved just after a
week ends in business time, one opened the week before, a user with two
episodes, a not-in-sync error on a transaction whose printed wallet agrees, an
error tied to no transaction, a test user, overdrafts that are new, ongoing and
resolved, and a roll-forward over two months that ties out.

The tests in this file check the fixture against transform's declarations and
invariants, and its figures against what transform builds from the same
transactions.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, MetaData, String, Table, Text, insert, select, text

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


# (id, ts, user, currency, type, source, amount, vat, old, new, payment)
TRANSACTIONS = [
    # December: the balances brought in from before the logs (user-b's and user-d's first transactions)
    ("T13", "2023-12-28T09:00:00.000Z", "user-b", "SAR", "CREDIT", "PAYMENT", "50", "0", "0", "50", "44.5"),
    ("T14", "2023-12-29T08:00:00.000Z", "user-d", "BHD", "CREDIT", "MANUAL_ADDITION", "10", "0", "5", "15", "12"),
    ("T01", "2024-01-08T06:00:00.000Z", "user-a", "BHD", "CREDIT", "PAYMENT", "100", "0", "0", "100", "100"),
    ("T04", "2024-01-07T21:01:00.200Z", "user-b", "SAR", "DEBIT", "MANUAL_DEDUCTION", "115", "15", "50", "-50", "-50"),
    ("T02", "2024-01-08T21:01:00.000Z", "user-a", "BHD", "DEBIT", "MANUAL_DEDUCTION", "11", "1", "100", "90", "90"),
    ("T05", "2024-01-09T10:00:00.000Z", "user-b", "SAR", "CREDIT", "PAYMENT", "20", "0", "-50", "-30", "-30"),
    ("T03", "2024-01-09T21:01:00.100Z", "user-c", "BHD", "DEBIT", "MANUAL_DEDUCTION", "5.5", "0.5", "2", "-3",
     "-2.9985"),
    ("T08", "2024-01-10T08:00:00.000Z", FORMULA_USER, "SAR", "DEBIT", "MANUAL_DEDUCTION", "12", "0", "10", "-2", "0"),
    ("T06", "2024-01-10T10:00:00.000Z", "user-b", "SAR", "CREDIT", "PAYMENT", "100", "0", "-30", "70", "70.005"),
    ("T07", "2024-01-10T12:00:00.000Z", "user-a", "BHD", "DEBIT", "MANUAL_DEDUCTION", "8", "0", "90", "82.7265",
     "82.7265"),
    ("T10", "2024-01-12T09:30:00.000Z", "random-uuid", "BHD", "CREDIT", "MANUAL_ADDITION", "1", "0", "0", "1", "1"),
    # 00:30 on Monday 2024-01-15 in business time: just after the end of week 2024-W02
    ("T15", "2024-01-14T21:30:00.000Z", FORMULA_USER, "SAR", "CREDIT", "PAYMENT", "1", "0", "-2", "-1", "-1"),
    ("T09", "2024-01-15T07:00:00.000Z", "user-a", "BHD", "DEBIT", "MANUAL_DEDUCTION", "1", "0", "80", "79", "78.9985"),
]

# The Lambda's "not in sync" errors: one after T04 (whose printed wallet agrees with its balance), one tied to
# no transaction. (event_id, ts, user, transaction, subscription, payment, message_id, line_no)
NOT_IN_SYNC = [
    (901, "2024-01-07T21:01:00.300Z", "user-b", "T04", "-50", "50", "msg-T04", 35),
    (902, "2024-01-12T10:00:00.000Z", "user-c", None, "-3", "0", "msg-U1", 115),
]
UNTIED_ID = "untied_error:2024-01-12T10:00:00.000Z:msg-U1"


TOLERANCE = 1000  # BALANCE_TOLERANCE 0.001, in micro-units
UNIT = {"BHD": 1000, "SAR": 10000}  # one minor unit, in micro-units


def _adjustment(diff: int, currency: str) -> int | None:
    """The posting that undoes a calculation difference, half-up (away from zero) in whole minor units."""
    if abs(diff) <= TOLERANCE:
        return None
    units = (abs(diff) + UNIT[currency] // 2) // UNIT[currency]
    return (-1 if diff > 0 else 1) * units * UNIT[currency]


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
            "is_calc_mismatch": abs(diff) > TOLERANCE, "suggested_adjustment": _adjustment(diff, cur),
            "user_seq": sum(1 for r in rows if (r["user_id"], r["currency"]) == key) + 1,
            "prev_new_balance": prev_new, "is_continuity_break": prev_new is not None and prev_new != m(old),
            "continuity_gap": None if prev_new is None else m(old) - prev_new,
            "is_overdraft_actual": over_actual, "is_overdraft_expected": over_expected,
            "is_overdraft_wallet": over_wallet,
            "is_overdraft_crossing": bool(reason) and not was_over, "overdraft_reason": reason,
        })
        prev[key] = m(new)
    return rows


def _issue(discrepancy_id, kind, user, currency, first_seen_at, *, first=None, last=None, resolving=None,
           last_seen_at=None, resolved_at=None, transactions=1, errors=0, sub=None, pay=None, expected=None,
           opening=None, current=None, largest=None, stake="0", age, line_no, explanation) -> dict:
    """One discrepancy_report row (money as decimal text, turned into micro-units)."""
    return {"discrepancy_id": discrepancy_id, "kind": kind, "status": "open" if resolved_at is None else "resolved",
            "user_id": user, "currency": currency, "first_transaction_id": first, "last_transaction_id": last or first,
            "resolving_transaction_id": resolving, "business_date": _bdate(first_seen_at),
            "first_seen_at": first_seen_at, "last_seen_at": last_seen_at or first_seen_at, "resolved_at": resolved_at,
            "count_transactions": transactions, "count_lambda_errors": errors, "subscription_balance": m(sub),
            "payment_balance": m(pay), "expected_balance": m(expected), "opening_gap": m(opening),
            "current_gap": m(current), "max_abs_gap": m(largest), "amount_at_stake": m(stake), "age_days": age,
            "file_id": 1, "line_no": line_no, "explanation": explanation}


# Worked out by hand from TRANSACTIONS and NOT_IN_SYNC (the data's last business day is 2024-01-15, so ages of
# open issues count to it). Gaps are subscription minus wallet; an open episode puts its |current gap| at stake,
# a resolved one nothing; a calculation or continuity break always its difference.
DISCREPANCIES = [
    # user-b's first episode: T13 (wallet 5.50 short), then T04 (wallet agrees, but the Lambda logged an error),
    # resolved by T05 on 2024-01-09: opened the week before 2024-W02, resolved in it
    _issue("out_of_sync:T13", "out_of_sync", "user-b", "SAR", "2023-12-28T09:00:00.000Z", first="T13", last="T04",
           resolving="T05", last_seen_at="2024-01-07T21:01:00.200Z", resolved_at="2024-01-09T10:00:00.000Z",
           transactions=2, errors=1, sub="-50", pay="-50", opening="5.5", current="0", largest="5.5", age=12,
           line_no=10, explanation="Transaction T13 of user-b left the subscription balance at 50.00 SAR and the "
           "payment wallet at 44.50 SAR (a gap of 5.50 SAR); they stayed apart for 2 transactions, up to T04 "
           "(gap 0.00 SAR, largest 5.50 SAR); the Lambda logged 1 not-in-sync error. Transaction T05 brought them "
           "together again."),
    # user-d: open since December (17 days: the 8-30 days bucket)
    _issue("out_of_sync:T14", "out_of_sync", "user-d", "BHD", "2023-12-29T08:00:00.000Z", first="T14", sub="15",
           pay="12", opening="3", current="3", largest="3", stake="3", age=17, line_no=20,
           explanation="Transaction T14 left the subscription balance at 15.000 BHD and the payment wallet at "
           "12.000 BHD (a gap of 3.000 BHD). Still apart at the user's latest transaction."),
    _issue("out_of_sync:T03", "out_of_sync", "user-c", "BHD", "2024-01-09T21:01:00.100Z", first="T03", sub="-3",
           pay="-2.9985", opening="-0.0015", current="-0.0015", largest="0.0015", stake="0.0015", age=5, line_no=70,
           explanation="Transaction T03 left the subscription balance at -3.000 BHD and the payment wallet at "
           "-2.999 BHD (a gap of -0.002 BHD). Still apart at the user's latest transaction."),
    # the formula user: resolved by T15 at 00:30 on Monday 2024-01-15 in business time, just after 2024-W02
    _issue("out_of_sync:T08", "out_of_sync", FORMULA_USER, "SAR", "2024-01-10T08:00:00.000Z", first="T08",
           resolving="T15", resolved_at="2024-01-14T21:30:00.000Z", sub="-2", pay="0", opening="-2", current="-2",
           largest="2", age=5, line_no=80,
           explanation=f"Transaction T08 of {FORMULA_USER} left the subscription balance at -2.00 SAR and the "
           "payment wallet at 0.00 SAR (a gap of -2.00 SAR). Transaction T15 brought them together again."),
    # user-b's second episode, still open: 70.005 in the wallet against 70 (0.01 SAR once rounded)
    _issue("out_of_sync:T06", "out_of_sync", "user-b", "SAR", "2024-01-10T10:00:00.000Z", first="T06", sub="70",
           pay="70.005", opening="-0.005", current="-0.005", largest="0.005", stake="0.005", age=5, line_no=90,
           explanation="Transaction T06 left the subscription balance at 70.00 SAR and the payment wallet at "
           "70.01 SAR (a gap of -0.01 SAR). Still apart at the user's latest transaction."),
    _issue("out_of_sync:T09", "out_of_sync", "user-a", "BHD", "2024-01-15T07:00:00.000Z", first="T09", sub="79",
           pay="78.9985", opening="0.0015", current="0.0015", largest="0.0015", stake="0.0015", age=0, line_no=130,
           explanation="Transaction T09 left the subscription balance at 79.000 BHD and the payment wallet at "
           "78.999 BHD (a gap of 0.002 BHD). Still apart at the user's latest transaction."),
    # resolved by user-a's next transaction without a calculation difference (T09); its difference stays at stake
    _issue("calculation:T07", "calculation", "user-a", "BHD", "2024-01-10T12:00:00.000Z", first="T07",
           resolving="T09", resolved_at="2024-01-15T07:00:00.000Z", sub="82.7265", pay="82.7265", expected="82",
           opening="0.7265", current="0.7265", largest="0.7265", stake="0.7265", age=5, line_no=100,
           explanation="new_balance 82.7265 of user-a differs from the expected 82"),
    _issue("continuity:T09", "continuity", "user-a", "BHD", "2024-01-15T07:00:00.000Z", first="T09", sub="80",
           pay="78.9985", expected="82.7265", opening="-2.7265", current="-2.7265", largest="2.7265",
           stake="2.7265", age=0, line_no=130,
           explanation="old_balance 80 differs from the previous new_balance 82.7265"),
    _issue(UNTIED_ID, "untied_error", "user-c", None, "2024-01-12T10:00:00.000Z", transactions=0, errors=1,
           sub="-3", pay="0", opening="-3", current="-3", largest="3", age=3, line_no=115,
           explanation="The Lambda reported that the subscription balance (-3.00) and the payment balance (0.00) "
                       "are not in sync, but no transaction block precedes it in its SQS message (msg-U1), so it is "
                       "tied to no transaction and counts in no exposure."),
]

# discrepancy_transactions: each episode's transactions, then the one that resolved it.
# (episode, position, role, transaction, subscription, payment, lambda errors)
EPISODE_TRANSACTIONS = [
    ("out_of_sync:T13", 1, "out_of_sync", "T13", "50", "44.5", 0),
    ("out_of_sync:T13", 2, "out_of_sync", "T04", "-50", "-50", 1),
    ("out_of_sync:T13", 3, "resolving", "T05", "-30", "-30", 0),
    ("out_of_sync:T14", 1, "out_of_sync", "T14", "15", "12", 0),
    ("out_of_sync:T03", 1, "out_of_sync", "T03", "-3", "-2.9985", 0),
    ("out_of_sync:T08", 1, "out_of_sync", "T08", "-2", "0", 0),
    ("out_of_sync:T08", 2, "resolving", "T15", "-1", "-1", 0),
    ("out_of_sync:T06", 1, "out_of_sync", "T06", "70", "70.005", 0),
    ("out_of_sync:T09", 1, "out_of_sync", "T09", "79", "78.9985", 0),
]

# balance_rollforward: opening + first seen + credits - debits + calculation differences + continuity gaps
# = closing; January opens at December's close; the last closings are the users' balances (BHD: user-d 15,
# user-a 79, user-c -3, random-uuid 1; SAR: user-b 70, the formula user -1).
# (currency, month, opening, first seen, credits, debits (both net of VAT), VAT in the credits, VAT in the debits,
#  calculation, continuity, closing, transactions, users, new users)
ROLLFORWARD = [
    ("BHD", "2023-12", "0", "5", "10", "0", "0", "0", "0", "0", "15", 1, 1, 1),  # T14
    # T01 + T10 credits; T02 (11 - 1 VAT), T03 (5.5 - 0.5), T07, T09 debits; T07 0.7265 above its rule; T09
    # starts 2.7265 below T07's balance; user-c brings in 2
    ("BHD", "2024-01", "15", "2", "101", "24", "0", "1.5", "0.7265", "-2.7265", "92", 6, 3, 3),
    ("SAR", "2023-12", "0", "0", "50", "0", "0", "0", "0", "0", "50", 1, 1, 1),  # T13
    # T05 + T06 + T15 credits; T04 (115 - 15 VAT) + T08 debits; the formula user brings in 10
    ("SAR", "2024-01", "50", "10", "121", "112", "0", "15", "0", "0", "69", 5, 2, 1),
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
    Column("overdrawn_since", String(24)), Column("wallet_overdrawn_since", String(24)),
    Column("count_discrepancies", Integer), Column("count_open_discrepancies", Integer),
    Column("count_continuity_breaks", Integer),
    Column("count_anomalies", Integer), Column("is_test_user", Boolean), Column("count_currencies", Integer))
T_DISCREPANCY_TRANSACTIONS = Table(
    "discrepancy_transactions", derived,
    Column("discrepancy_id", String(60)), Column("position", Integer), Column("role", String(16)),
    Column("transaction_id", String(40)), Column("user_id", String(64)), Column("currency", String(8)),
    Column("ts", String(24)), Column("business_date", String(10)), Column("subscription_balance", Money),
    Column("payment_balance", Money), Column("gap", Money), Column("count_lambda_errors", Integer),
    Column("event_id", BigInteger), Column("file_id", Integer), Column("line_no", Integer))
T_DISCREPANCY_REPORT = Table(
    "discrepancy_report", derived,
    Column("discrepancy_id", String(120)), Column("kind", String(16)), Column("status", String(16)),
    Column("user_id", String(64)), Column("currency", String(8)), Column("first_transaction_id", String(40)),
    Column("last_transaction_id", String(40)), Column("resolving_transaction_id", String(40)),
    Column("business_date", String(10)), Column("first_seen_at", String(24)), Column("last_seen_at", String(24)),
    Column("resolved_at", String(24)), Column("count_transactions", Integer), Column("count_lambda_errors", Integer),
    Column("subscription_balance", Money), Column("payment_balance", Money), Column("expected_balance", Money),
    Column("opening_gap", Money), Column("current_gap", Money), Column("max_abs_gap", Money),
    Column("amount_at_stake", Money), Column("age_days", Integer), Column("file_id", Integer),
    Column("line_no", Integer), Column("explanation", Text))
T_BALANCE_ROLLFORWARD = Table(
    "balance_rollforward", derived,
    Column("currency", String(8)), Column("month", String(7)), Column("opening_balance", Money),
    Column("first_seen_balances", Money), Column("credits", Money), Column("debits", Money),
    Column("credit_vat", Money), Column("debit_vat", Money), Column("calculation_differences", Money), Column("continuity_gaps", Money), Column("closing_balance", Money),
    Column("count_transactions", Integer), Column("count_users", Integer), Column("count_new_users", Integer))
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
        since = wallet_since = None
        for e in evs:
            if e["is_overdraft_actual"]:
                since = since or e["ts"]
            else:
                since = None
            if e["payment_balance"] is not None:
                wallet_since = (wallet_since or e["ts"]) if e["payment_balance"] < 0 else None
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
            "wallet_overdrawn_since": wallet_since if (last["payment_balance"] or 0) < 0 else None,
            "count_discrepancies": sum(1 for d in DISCREPANCIES if d["user_id"] == user),
            "count_open_discrepancies": sum(1 for d in DISCREPANCIES if d["user_id"] == user and d["status"] == "open"),
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
                                                  "status": "ok", "paths": '["/fixture"]'}])
            conn.execute(insert(s.ingested_files), [{"file_id": 1, "path": "/fixture/stream/000000.gz",
                                                     "relative_path": "stream/000000.gz", "content_hash": "0" * 64,
                                                     "status": "ok", "run_id": 1}])
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
            conn.execute(insert(s.not_in_sync_events), [
                {"event_id": eid, "ts": ts, "ts_ms": _ms(ts), "business_date": _bdate(ts), "request_id": None,
                 "message_id": msg, "transaction_id": tx, "user_id": user, "subscription_balance": m(sub),
                 "subscription_balance_text": sub, "payment_balance": m(pay), "payment_balance_text": pay,
                 "subscription_balance_meaning": "new_balance", "file_id": 1, "line_no": line}
                for eid, ts, user, tx, sub, pay, msg, line in NOT_IN_SYNC])
            conn.execute(insert(T_DISCREPANCY_REPORT), DISCREPANCIES)
            by_id = {e["transaction_id"]: e for e in events}
            conn.execute(insert(T_DISCREPANCY_TRANSACTIONS), [
                {"discrepancy_id": did, "position": pos, "role": role, "transaction_id": tx,
                 "user_id": by_id[tx]["user_id"], "currency": by_id[tx]["currency"], "ts": by_id[tx]["ts"],
                 "business_date": by_id[tx]["business_date"], "subscription_balance": m(sub),
                 "payment_balance": m(pay), "gap": m(sub) - m(pay), "count_lambda_errors": errors,
                 "event_id": by_id[tx]["event_id"], "file_id": 1, "line_no": by_id[tx]["line_no"]}
                for did, pos, role, tx, sub, pay, errors in EPISODE_TRANSACTIONS])
            conn.execute(insert(T_BALANCE_ROLLFORWARD), [
                {"currency": cur, "month": month, "opening_balance": m(opening), "first_seen_balances": m(first),
                 "credits": m(credits), "debits": m(debits), "credit_vat": m(credit_vat), "debit_vat": m(debit_vat),
                 "calculation_differences": m(calc), "continuity_gaps": m(gaps), "closing_balance": m(closing),
                 "count_transactions": n, "count_users": users, "count_new_users": new}
                for cur, month, opening, first, credits, debits, credit_vat, debit_vat, calc, gaps, closing, n, users,
                new in ROLLFORWARD])
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


# --- the fixture against transform's contract ------------------------------------------------------------------

TEXT_IDS = {("anomalies", "anomaly_id")}  # 'A1' reads better in assertions than 1; no report computes on it
RECONCILIATION = ("discrepancy_report", "discrepancy_transactions", "balance_rollforward")


def test_fixture_matches_transform_contract():
    """Every derived table of the fixture has exactly the columns transform/tables.py declares, of the same kind."""
    from transform.tables import BY_NAME
    for table in derived.sorted_tables:
        declared = BY_NAME[table.name]
        assert [c.name for c in table.columns] == [c.name for c in declared.columns], table.name
        for ours, theirs in zip(table.columns, declared.columns):
            if (table.name, ours.name) not in TEXT_IDS:
                assert ours.type.python_type is theirs.type.python_type, (table.name, ours.name)


def test_fixture_holds_transform_invariants(report_db):
    """The hand-made reconciliation tables satisfy transform's own sidecars (transform/invariants/*.yml): keys,
    accepted values, one open episode per user, open stake = |current gap|, the roll-forward ties out."""
    from transform import invariants
    specs = [spec for spec in invariants.load().values() if spec["table"] in (*RECONCILIATION, "user_balances")]
    assert {spec["table"] for spec in specs} == {*RECONCILIATION, "user_balances"}
    engine = make_engine(report_db, readonly=True)
    failures = []
    try:
        with engine.connect() as conn:
            def broken(table, where):
                return conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}"),
                                    {"tolerance_micros": TOLERANCE}).scalar_one()
            for spec in specs:
                table = spec["table"]
                for key in spec.get("unique") or []:
                    listed = key if isinstance(key, str) else ", ".join(key)
                    if conn.execute(text(f"SELECT COUNT(*) FROM (SELECT {listed} FROM {table} GROUP BY {listed} "
                                         "HAVING COUNT(*) > 1) AS d")).scalar_one():
                        failures.append((table, f"unique({listed})"))
                for col in spec.get("not_null") or []:
                    if broken(table, f"{col} IS NULL"):
                        failures.append((table, f"not_null({col})"))
                for col, values in (spec.get("accepted_values") or {}).items():
                    allowed = ", ".join(f"'{v}'" for v in values)
                    if broken(table, f"{col} IS NOT NULL AND {col} NOT IN ({allowed})"):
                        failures.append((table, f"accepted_values({col})"))
                for name, expr in (spec.get("expressions") or {}).items():
                    if broken(table, f"NOT ({expr})"):
                        failures.append((table, name))
    finally:
        engine.dispose()
    assert failures == []


def test_fixture_figures_equal_what_transform_builds(tmp_path):
    """transform/ run on the fixture's transactions and errors builds the very rows worked out by hand above
    (explanations aside: the fixture's name the users, for the pseudonymisation tests)."""
    import os
    import shutil

    import settings as settings_mod
    import transform
    ours = build_fixture(f"sqlite:///{tmp_path / 'fixture.db'}")
    shutil.copy(tmp_path / "fixture.db", tmp_path / "built.db")
    built = f"sqlite:///{tmp_path / 'built.db'}"
    engine = make_engine(built)
    try:
        transform.build_all(engine, settings_mod.load(env_file=os.devnull, DATABASE_URL=built, BUSINESS_TZ="+03:00",
                                                      CURRENCY_PRECISION="BHD=3,SAR=2"))
    finally:
        engine.dispose()

    def rows(url: str, table: Table) -> list[dict]:
        eng = make_engine(url, readonly=True)
        try:
            with eng.connect() as conn:
                key = [c for c in table.columns if c.name != "explanation"]
                return [dict(r) for r in conn.execute(select(*key).order_by(*key[:2])).mappings()]
        finally:
            eng.dispose()
    for table in (T_DISCREPANCY_REPORT, T_DISCREPANCY_TRANSACTIONS, T_BALANCE_ROLLFORWARD):
        assert rows(ours, table) == rows(built, table), table.name


def test_rollforward_closes_at_the_users_balances(report_engine):
    """The last closing per currency is the sum of the users' latest balances, from the transactions themselves."""
    with report_engine.connect() as conn:
        closing = dict(conn.execute(text(
            "SELECT currency, closing_balance FROM balance_rollforward r WHERE month = "
            "(SELECT MAX(month) FROM balance_rollforward l WHERE l.currency = r.currency)")).all())
        latest = dict(conn.execute(text(
            "SELECT currency, SUM(new_balance) FROM (SELECT currency, new_balance, ROW_NUMBER() OVER (PARTITION BY "
            "user_id, currency ORDER BY ts DESC, transaction_id DESC) AS rn FROM balance_events) t WHERE rn = 1 "
            "GROUP BY currency")).all())
    assert closing == {cur: int(total) for cur, total in latest.items()} == {"BHD": m("92"), "SAR": m("69")}
