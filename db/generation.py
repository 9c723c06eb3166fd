"""The ingest generation: a number that only grows, one step per change of the ingest tables.

Whoever changes the ingest tables calls `bump(conn)` in the same transaction (the loader per group of files,
--full-refresh after its delete); the transforms record `current(conn)` with their build. Row counts or the
highest file id cannot tell two states apart: after a --full-refresh SQLite hands out the same ids again.
"""
from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from db import schema as s

_table = s.ingest_generation


def bump(conn: Connection) -> None:
    if conn.execute(update(_table).values(generation=_table.c.generation + 1)).rowcount == 0:
        conn.execute(insert(_table).values(generation=1))  # a new database: its first change


def current(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(_table.c.generation), 0))).scalar_one()
