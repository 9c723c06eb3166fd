"""Batched writes: lists of row dicts go in with the driver's executemany.

The hot path bypasses SQLAlchemy's per-row parameter processing: values are
already plain Python (str, int, bool, None), so the INSERT is compiled once
per table and column set and handed to the DBAPI cursor directly. Rows are
bound as tuples with positional markers: sqlite3 binds a named parameter by
looking its name up in the row's mapping, which makes dict rows markedly
slower to insert (docs/benchmarks.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from operator import itemgetter

from sqlalchemy import Table
from sqlalchemy.engine import Connection

BATCH_ROWS = 10_000


@lru_cache(maxsize=None)
def _insert_sql(table_name: str, columns: tuple[str, ...], paramstyle: str) -> str:
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[paramstyle]  # sqlite3; psycopg
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})"


def _checked_columns(table: Table, rows: Sequence[dict]) -> tuple[str, ...]:
    columns = tuple(rows[0])
    unknown = set(columns) - set(table.c.keys())
    if unknown:  # column names are formatted into the SQL, so they must be the table's own
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    if set(map(len, rows)) != {len(columns)}:  # (map: no Python frame per row)
        # The column list comes from the first row: a row with other keys would lose values silently.
        raise ValueError(f"rows for {table.name} do not all have the columns {columns}")
    return columns


def _as_tuples(columns: tuple[str, ...], rows: Sequence[dict]) -> list[tuple]:
    """The rows' values in column order; a row without one of the columns raises KeyError."""
    if len(columns) == 1:
        return [(row[columns[0]],) for row in rows]
    return list(map(itemgetter(*columns), rows))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict]) -> int:
    """Insert rows that all have the same keys (column names of `table`)."""
    if not rows:
        return 0
    columns = _checked_columns(table, rows)
    sql = _insert_sql(table.name, columns, conn.dialect.paramstyle)
    for start in range(0, len(rows), BATCH_ROWS):
        conn.exec_driver_sql(sql, _as_tuples(columns, rows[start:start + BATCH_ROWS]))
    return len(rows)


@lru_cache(maxsize=None)
def _upsert_sql(table_name: str, columns: tuple[str, ...], key: str, paramstyle: str,
                merge: tuple[tuple[str, str], ...]) -> str:
    # Where the key exists already, fill only the columns that are still NULL there, unless `merge` says
    # how to combine the stored value ({old}) with the new one ({new}). In SET, {old} is the row as it was
    # before this update on both databases. The same text on SQLite and PostgreSQL (both have
    # ON CONFLICT … DO UPDATE and `excluded`).
    rules = dict(merge)
    fill = ", ".join(
        f"{c} = " + rules.get(c, "coalesce({old}, {new})").format(old=f"{table_name}.{c}", new=f"excluded.{c}",
                                                                  table=table_name)
        for c in columns if c != key)
    return f"{_insert_sql(table_name, columns, paramstyle)} ON CONFLICT ({key}) DO UPDATE SET {fill}"


def upsert_rows(conn: Connection, table: Table, rows: Sequence[dict], key: str,
                merge: dict[str, str] | None = None) -> None:
    """Insert rows (same keys, as for insert_rows); a row whose `key` exists fills that row's NULLs, or
    combines the two values as `merge[column]` says: an SQL expression of {old} and {new} (and {table}
    for other columns of the stored row, e.g. '{table}.start_ts')."""
    if not rows:
        return
    columns = _checked_columns(table, rows)
    sql = _upsert_sql(table.name, columns, key, conn.dialect.paramstyle, tuple(sorted((merge or {}).items())))
    for start in range(0, len(rows), BATCH_ROWS):
        conn.exec_driver_sql(sql, _as_tuples(columns, rows[start:start + BATCH_ROWS]))
