"""What changed in the ingest tables since the last build: the users and business days a write touched.

The loader notes them in the transaction of the rows it writes; a build reads them to rebuild the derived rows
of those users and days only, and clears them in its own transaction (transform/scope.py). A --full-refresh
notes `everything`: the next build starts from scratch. Noting more than changed is harmless (those rows are
rebuilt the same); noting less would leave a derived row stale, so a writer notes every key a row it adds,
replaces or merges into carries, before and after. For a user it also notes the earliest point of their ledger
(time, then transaction id) that a row it writes is at, or refers to: the transactions before that point are
as the last build saw them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection

from db import schema as s

USER, DAY, EVERYTHING = "user", "day", "all"
NO_USER = "-"  # the transactions without a user: one partition of the ledger, as the transforms keep it
_table = s.pending_changes


def user_key(user_id: str | None) -> str:
    return NO_USER if user_id is None else "+" + user_id


def user_of(key: str) -> str | None:
    return None if key == NO_USER else key[1:]


def note(conn: Connection, users: Mapping[str | None, tuple[str, str] | None] | None = None,
         days: Iterable[str | None] = ()) -> None:
    """Note changed users and days. `users` maps each user to the earliest (ts, transaction_id) of their ledger
    that changed, or to None for all of it; a user noted again keeps the earlier of the two points."""
    rows = [(USER, user_key(u), *(since or (None, None))) for u, since in (users or {}).items()]
    rows += [(DAY, d, None, None) for d in set(days) if d is not None]
    if rows:
        # (kind, key) is the key. NULL is the ledger's start, before every point
        earlier = ("excluded.since_ts IS NULL OR (pending_changes.since_ts IS NOT NULL AND "
                   "(excluded.since_ts, excluded.since_tx) < (pending_changes.since_ts, pending_changes.since_tx))")
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {_table.name} (kind, key, since_ts, since_tx) VALUES ({mark}, {mark}, {mark}, {mark}) "
            f"ON CONFLICT (kind, key) DO UPDATE SET "
            f"since_ts = CASE WHEN {earlier} THEN excluded.since_ts ELSE pending_changes.since_ts END, "
            f"since_tx = CASE WHEN {earlier} THEN excluded.since_tx ELSE pending_changes.since_tx END", rows)


def earliest(points: dict, user_id: str | None, ts: str, transaction_id: str) -> None:
    """Keep in `points` (a user's earliest changed point, for note) the earlier of the stored point and this one."""
    point = (ts, transaction_id)
    if user_id not in points or point < points[user_id]:
        points[user_id] = point


def note_everything(conn: Connection) -> None:
    conn.execute(delete(_table))
    conn.execute(_table.insert().values(kind=EVERYTHING, key=EVERYTHING))


def everything(conn: Connection) -> bool:
    return conn.execute(select(_table.c.key).where(_table.c.kind == EVERYTHING).limit(1)).first() is not None


def count(conn: Connection, kind: str) -> int:
    return conn.execute(text(f"SELECT COUNT(*) FROM {_table.name} WHERE kind = :kind"), {"kind": kind}).scalar_one()


def clear(conn: Connection) -> None:
    conn.execute(delete(_table))
