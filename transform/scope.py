"""What a build rewrites: every derived row, or those of the users and business days changed since the last one.

The loader notes each user and business day whose rows it writes (db/pending.py). When the last build was made
by this code with these settings, the next one can rebuild those keys only: every step that follows a user's
ledger reads that user's transactions alone (its windows are partitioned by user), so it reads the changed
users' whole ledgers and replaces their rows; the per-day tables replace the changed days' rows; the rest (the
roll-forward, the error-day detector, the anomalies' numbering, the small ref_* tables) is rebuilt whole from
tables that are already per user or per day. The result is the same as a full build's, row for row
(tests/test_transform_incremental.py); `decide()` says which build is due and why.
"""
from __future__ import annotations

import dataclasses

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db import pending
from transform.dialect import SCOPE_DAYS, SCOPE_USERS
from transform.params import Params
from transform.state import built_from, fingerprint_parts

# When more than this share of the users changed, rebuilding everything costs less than replacing their rows.
MOST_USERS = 0.5


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
    known = conn.execute(text("SELECT COUNT(*) FROM user_balances")).scalar_one()
    if mode == "auto" and users > MOST_USERS * known:
        return Decision(False, f"{users:,} of {known:,} users changed")
    return Decision(True, f"{users:,} users and {days:,} business days changed")


def open_scope(conn: Connection) -> None:
    """The changed keys as the two tables the scoped SQL reads (transform/dialect.py: user_in_scope,
    day_in_scope), temporary: private to the build's connection."""
    close_scope(conn)
    conn.execute(text(f"CREATE TEMPORARY TABLE {SCOPE_USERS} AS SELECT CASE WHEN key = :none THEN NULL "
                      f"ELSE SUBSTR(key, 2) END AS user_id FROM pending_changes WHERE kind = :user"),
                 {"none": pending.NO_USER, "user": pending.USER})
    conn.execute(text(f"CREATE TEMPORARY TABLE {SCOPE_DAYS} AS SELECT key AS business_date FROM pending_changes "
                      f"WHERE kind = :day"), {"day": pending.DAY})


def close_scope(conn: Connection) -> None:
    for table in (SCOPE_USERS, SCOPE_DAYS):
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
