"""What changed in the ingest tables since the last build: the users and business days a write touched.

The loader notes them in the transaction of the rows it writes; a build reads them to rebuild the derived rows
of those users and days only, and clears them in its own transaction (transform/scope.py). A --full-refresh
notes `everything`: the next build starts from scratch. Noting more than changed is harmless (those rows are
rebuilt the same); noting less would leave a derived row stale, so a writer notes every key a row it adds,
replaces or merges into carries, before and after.
"""
from __future__ import annotations

from collections.abc import Iterable

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


def note(conn: Connection, users: Iterable[str | None] = (), days: Iterable[str | None] = ()) -> None:
    rows = [(USER, user_key(u)) for u in set(users)] + [(DAY, d) for d in set(days) if d is not None]
    if rows:
        # (kind, key) is the key: a key noted again is already there
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"INSERT INTO {_table.name} (kind, key) VALUES ({mark}, {mark}) "
                             f"ON CONFLICT (kind, key) DO NOTHING", rows)


def note_everything(conn: Connection) -> None:
    conn.execute(delete(_table))
    conn.execute(_table.insert().values(kind=EVERYTHING, key=EVERYTHING))


def everything(conn: Connection) -> bool:
    return conn.execute(select(_table.c.key).where(_table.c.kind == EVERYTHING).limit(1)).first() is not None


def count(conn: Connection, kind: str) -> int:
    return conn.execute(text(f"SELECT COUNT(*) FROM {_table.name} WHERE kind = :kind"), {"kind": kind}).scalar_one()


def clear(conn: Connection) -> None:
    conn.execute(delete(_table))
