"""Batched writes: any iterable of row dicts goes in with executemany, in chunks."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from itertools import islice

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

BATCH_ROWS = 5000


def insert_rows(conn: Connection, table: Table, rows: Iterable[dict], batch: int = BATCH_ROWS) -> int:
    it, count = iter(rows), 0
    stmt = table.insert()
    while chunk := list(islice(it, batch)):
        conn.execute(stmt, chunk)
        count += len(chunk)
    return count


@lru_cache(maxsize=None)
def _upsert_statement(table: Table, key: str, dialect_name: str):
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    # Where the key exists already, fill only the columns that are still NULL there.
    fill = {c.name: func.coalesce(table.c[c.name], stmt.excluded[c.name]) for c in table.columns if c.name != key}
    return stmt.on_conflict_do_update(index_elements=[key], set_=fill)


def upsert_rows(conn: Connection, table: Table, rows: list[dict], key: str) -> None:
    if rows:
        conn.execute(_upsert_statement(table, key, conn.dialect.name), rows)
