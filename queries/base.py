"""What every query shares: the filters, the derived tables' columns, and running a statement.

Query functions take an engine and validated `Filters` and return rows (dicts
of plain values, money still in micro-units). They build SQLAlchemy Core
statements, so every value is a bound parameter. The dashboard, the CSV export
and reports/ call the same functions.

The derived tables are built by transform/ after each ingest; until they exist
a query that needs one raises `MissingTables`, which the dashboard shows as a
friendly empty state with the command to run.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator
from datetime import date

from sqlalchemy import case, column, func, inspect, table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Select

from db import schema as s
from db.engine import sqlite_file
from queries.tables import (anomalies, daily_event_counts, daily_flows, daily_health,  # noqa: F401
                            discrepancy_report, user_balances)
# the categorical values the filters accept (anything else from a URL is dropped)
from vocabulary import DISCREPANCY_KINDS, DISCREPANCY_STATUSES, OVERDRAFT_REASONS, SEVERITIES  # noqa: F401

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_USER_SEARCH = 64
MAX_EXPORT_ROWS = 1_000_000  # a CSV larger than this is a job for reports/, not the browser


class MissingTables(LookupError):
    """The database lacks tables a query needs (nothing ingested yet, or transforms not built)."""

    def __init__(self, names: Iterable[str]):
        self.names = tuple(sorted(names))
        super().__init__("missing tables: " + ", ".join(self.names))

    @property
    def derived_only(self) -> bool:
        return not any(name in INGEST_TABLE_NAMES for name in self.names)


@dataclasses.dataclass(frozen=True)
class Filters:
    """The global filters of the dashboard, validated: business-date range, one currency or all, user search."""
    date_from: date | None = None
    date_to: date | None = None
    currency: str | None = None  # None: every currency, shown side by side (money is never summed across)
    user: str | None = None  # part of a user id

    @classmethod
    def clean(cls, date_from=None, date_to=None, currency=None, user=None) -> "Filters":
        """Filters from loose input (URL text, form values): anything invalid is dropped, never trusted."""
        start, end = parse_date(date_from), parse_date(date_to)
        if start and end and start > end:
            start, end = end, start
        cur = (currency or "").strip().upper()
        text = (user or "").strip()[:MAX_USER_SEARCH]
        return cls(start, end, cur if CURRENCY_RE.match(cur) else None, text or None)

    @property
    def date_from_text(self) -> str | None:
        return self.date_from.isoformat() if self.date_from else None

    @property
    def date_to_text(self) -> str | None:
        return self.date_to.isoformat() if self.date_to else None


def parse_date(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value else None
    except ValueError:
        return None


def one_of(value, allowed: Iterable[str]) -> str | None:
    """`value` when it is one of `allowed`, else None (filters from the URL are never used unchecked)."""
    return value if isinstance(value, str) and value in tuple(allowed) else None


# --- derived tables (built by transform/; declared in queries/tables.py) ---------------------------

DERIVED_TABLE_NAMES = ("user_balances", "discrepancy_report", "discrepancy_transactions", "balance_rollforward",
                       "anomalies", "daily_flows", "daily_health", "daily_event_counts")
INGEST_TABLE_NAMES = tuple(t.name for t in s.INGEST_TABLES)

# --- running statements --------------------------------------------------------------------------

def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def require(conn: Connection, *names: str) -> None:
    """Raise MissingTables unless every named table exists."""
    missing = set(names) - table_names(conn)
    if missing:
        raise MissingTables(missing)


def rows(conn: Connection, stmt: Select) -> list[dict]:
    return [dict(r) for r in conn.execute(stmt).mappings()]


@contextlib.contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """A connection, or MissingTables when the SQLite file does not exist yet.

    Connecting would create an empty file; the dashboard only reads, and the
    file appears with the first ingest (picked up on the next refresh).
    """
    path = sqlite_file(engine)
    if path is not None and not path.exists():
        raise MissingTables(INGEST_TABLE_NAMES + DERIVED_TABLE_NAMES)
    with engine.connect() as conn:
        yield conn


def fetch(engine: Engine, stmt: Select, needs: Iterable[str], limit: int | None = None) -> list[dict]:
    """All rows of `stmt` (or the first `limit`), after checking that the tables it needs exist."""
    with connect(engine) as conn:
        require(conn, *needs)
        return rows(conn, stmt.limit(limit) if limit is not None else stmt)


def stream(engine: Engine, stmt: Select, needs: Iterable[str], batch: int = 5_000) -> Iterator[dict]:
    """Rows of `stmt` one at a time, fetched in batches (exports never hold a whole table in memory)."""
    with connect(engine) as conn:
        require(conn, *needs)
        result = conn.execute(stmt.execution_options(yield_per=batch))  # streams in batches, on every driver
        for row in result.mappings():
            yield dict(row)


def as_int(value) -> int:
    """SUM() of BIGINT is int on SQLite and Decimal on PostgreSQL: micro-units are integers either way."""
    return int(value or 0)


# --- common WHERE clauses ------------------------------------------------------------------------

def date_range(col, filters: Filters) -> list:
    conds = []
    if filters.date_from:
        conds.append(col >= filters.date_from_text)
    if filters.date_to:
        conds.append(col <= filters.date_to_text)
    return conds


def currency_is(col, filters: Filters) -> list:
    return [col == filters.currency] if filters.currency else []


def user_matches(col, filters: Filters) -> list:
    # icontains escapes % and _ and binds the text: the search is a substring, never a pattern
    return [col.icontains(filters.user, autoescape=True)] if filters.user else []


def standard(cols, filters: Filters, *, date=True, currency=True, user=True) -> list:
    """The global filters on a table with `business_date`, `currency` and `user_id` columns."""
    conds = []
    if date:
        conds += date_range(cols.business_date, filters)
    if currency:
        conds += currency_is(cols.currency, filters)
    if user:
        conds += user_matches(cols.user_id, filters)
    return conds


def in_range(day: str, filters: Filters) -> bool:
    """The date and currency filters applied to a roll-up row in Python (dates are ISO text: they sort)."""
    return (filters.date_from is None or day >= filters.date_from_text) and \
        (filters.date_to is None or day <= filters.date_to_text)


def source_file():
    """A row's file as its readers name it: the path below the folder ingest was given (`stream/000000.gz`), with
    `!member` for an entry of a zip; to join on `ingested_files`. The server's own path stays ingest's business."""
    f = s.ingested_files.c
    name = func.coalesce(f.relative_path, f.path)  # a row some other writer left without it
    return case((f.member.isnot(None), name + "!" + f.member), else_=name).label("file")
