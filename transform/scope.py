"""What a build rewrites: every derived row, or those of the users and business days changed since the last one.

The loader notes each user and business day whose rows it writes (db/pending.py). When the last build was made
by this code with these settings, the next one can rebuild those keys only: every step that follows a user's
ledger reads that user's transactions alone (its windows are partitioned by user), so it reads the changed
users' whole ledgers and replaces their rows, or, for the steps that can, only the rows from the user's first
change on (the tail: int_ledger.is_tail; transform/scope_users.sql); the per-day tables replace the changed
days' rows; anomalies numbers again only the findings from the first that changed its order; the rest (the
roll-forward, the error-day detector, the small ref_* tables) is rebuilt whole from tables that are already per user
or per day, and ref_currencies reads the changed days only. The result is the same as a full build's, row for row
(tests/test_transform_incremental.py); `decide()` says which build is due and why.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db import pending
from transform.dialect import SCOPE_DAYS, SCOPE_USERS, render
from transform.params import Params
from transform.state import built_from, fingerprint_parts
from transform.steps import Statement, used_params

HERE = Path(__file__).resolve().parent

# When the changed users hold more than this share of the transactions, a full build (on two lanes on SQLite)
# costs about as much (docs/benchmarks.md, "Incremental builds").
MOST_TRANSACTIONS = 0.5
# How an incremental build reads the changed users' transactions from balance_events: by seeks in the user index
# when they are few, else in one pass over the table (a seek per row costs more than reading it in order once
# they are more than about this share of all transactions).
SEEK, SCAN = "seek", "scan"
SCAN_TRANSACTIONS = 0.1


@dataclasses.dataclass(frozen=True)
class Decision:
    incremental: bool
    reason: str


MODES = ("auto", "full", "incremental")


def decide(conn: Connection, params: Params, mode: str = "auto") -> Decision:
    """Full or incremental, and why (the run summary prints the reason). `mode` "full" asks for a full build;
    "incremental" for an incremental one whenever it can give the same result, even when most users changed."""
    if mode not in MODES:
        raise ValueError(f"unknown build mode {mode!r}")
    if mode == "full":
        return Decision(False, "asked for a full build")
    built = built_from(conn)
    if built is None:
        return Decision(False, "no earlier build")
    now = fingerprint_parts(conn, params)
    if built.get("code") != now["code"]:
        return Decision(False, "the transforms changed since the last build")
    if built.get("params") != now["params"]:
        return Decision(False, "a transform setting changed since the last build")
    if pending.everything(conn):
        return Decision(False, "the ingest tables were refreshed in full")
    users = pending.count(conn, pending.USER)
    days = pending.count(conn, pending.DAY)
    # the changed users' transactions as of the last build (a new user has none yet): a cheap estimate
    changed, total = conn.execute(text(
        "SELECT COALESCE(SUM(CASE WHEN user_id IN (SELECT SUBSTR(key, 2) FROM pending_changes "
        "WHERE kind = :user AND key <> :none) THEN count_transactions ELSE 0 END), 0), "
        "COALESCE(SUM(count_transactions), 0) FROM user_balances"),
        {"user": pending.USER, "none": pending.NO_USER}).one()
    if mode == "auto" and changed > MOST_TRANSACTIONS * total:
        return Decision(False, f"{_count(users, 'user')} changed, with {changed / total:.0%} of the transactions")
    return Decision(True, f"{_count(users, 'user')} and {_count(days, 'business day')} changed")


def read_mode(part: int, whole: int) -> str:
    """How to read `part` of a table of `whole` transactions: SEEK when it is few, else SCAN."""
    return SCAN if part > SCAN_TRANSACTIONS * whole else SEEK


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def open_scope(conn: Connection, params: Params) -> str:
    """The changed keys as the two tables the scoped SQL reads (transform/dialect.py: user_in_scope, in_tail,
    day_in_scope), temporary: private to the build's connection. scope_users (transform/scope_users.sql) also
    holds where each user's ledger first changed, the integer that stands for the user in int_ledger, and which
    of the user's earlier transactions int_ledger reads. Returns how int_ledger reads those: SEEK or SCAN."""
    close_scope(conn)
    sql = (f"CREATE TEMPORARY TABLE {SCOPE_USERS} AS\n"
           + render((HERE / "scope_users.sql").read_text(), conn.dialect.name).strip().rstrip(";"))
    users = Statement("scope_users", sql, used_params(sql, {
        **params.bind(), "no_user": pending.NO_USER, "user_kind": pending.USER}))
    conn.execute(users.executable(), users.params)
    conn.execute(text(f"CREATE INDEX ix_{SCOPE_USERS} ON {SCOPE_USERS} (user_id)"))
    conn.execute(text(f"CREATE TEMPORARY TABLE {SCOPE_DAYS} AS SELECT key AS business_date FROM pending_changes "
                      f"WHERE kind = :day"), {"day": pending.DAY})
    # (counted in ix_balance_events_user_ts alone, a range of it per user)
    reads, total = conn.execute(text(
        f"SELECT (SELECT COUNT(*) FROM {SCOPE_USERS} changes CROSS JOIN balance_events kept "
        "WHERE kept.user_id = changes.user_id AND kept.ts >= changes.read_from), "
        "COALESCE(SUM(count_transactions), 0) FROM user_balances")).one()
    return read_mode(reads, total)


def close_scope(conn: Connection) -> None:
    for table in (SCOPE_USERS, SCOPE_DAYS):
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
