"""About the data itself: is there any, how fresh is it, which currencies and dates does it cover."""
from __future__ import annotations

import dataclasses
import json

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import DERIVED_TABLE_NAMES, MissingTables, connect, table_names, user_balances
from queries.cache import cached


@dataclasses.dataclass(frozen=True)
class Freshness:
    """What the header shows: the state of the database and when it last changed."""
    state: str  # missing (no file/tables) | empty (tables, no ingest yet) | ingested
    missing_derived: tuple[str, ...] = ()
    last_run: dict | None = None
    count_files: int = 0
    count_damaged_files: int = 0
    first_date: str | None = None
    last_date: str | None = None

    @property
    def has_data(self) -> bool:
        return self.state == "ingested"


@cached
def freshness(engine: Engine) -> Freshness:
    """Every page's header: read once per version of the data (queries/cache.py), shared by every reader."""
    try:
        with connect(engine) as conn:
            names = table_names(conn)
            if not {"ingest_runs", "ingested_files", "file_event_counts"} <= names:
                return Freshness("missing", DERIVED_TABLE_NAMES)
            missing = tuple(n for n in DERIVED_TABLE_NAMES if n not in names)
            run = conn.execute(
                select(s.ingest_runs.c.run_id, s.ingest_runs.c.started_at, s.ingest_runs.c.finished_at,
                       s.ingest_runs.c.status, s.ingest_runs.c.count_files_new, s.ingest_runs.c.summary_json)
                .order_by(s.ingest_runs.c.run_id.desc()).limit(1)).mappings().first()
            files = conn.execute(select(func.count(), func.count().filter(s.ingested_files.c.status != "ok"))
                                 .select_from(s.ingested_files)).one()
            first, last = _first_and_last_dates(conn)
    except MissingTables:
        return Freshness("missing", DERIVED_TABLE_NAMES)
    if not files[0]:
        return Freshness("empty", missing, dict(run) if run else None)
    last_run = dict(run) if run else None
    if last_run:
        last_run["transform"] = _transform_status(last_run.pop("summary_json"))
    return Freshness("ingested", missing, last_run, int(files[0]), int(files[1] or 0), first, last)


def _first_and_last_dates(conn) -> tuple[str | None, str | None]:
    """The first and last business date with any event: file_event_counts counts every event by day. Two
    statements: SQLite answers min() or max() alone from its index, both together by a scan."""
    c = s.file_event_counts.c
    return (conn.execute(select(func.min(c.business_date))).scalar(),
            conn.execute(select(func.max(c.business_date))).scalar())


def _transform_status(summary_json: str | None):
    try:
        return (json.loads(summary_json or "{}") or {}).get("transform")
    except ValueError:
        return None


def latest_business_date(engine: Engine) -> str | None:
    """The newest business date with any event: date presets count back from it."""
    try:
        with connect(engine) as conn:
            if "file_event_counts" not in table_names(conn):
                return None
            return _first_and_last_dates(conn)[1]
    except MissingTables:
        return None


@cached
def data_period(engine: Engine) -> tuple[str | None, str | None]:
    """(first, last) business date with any event: the time axis the health charts share."""
    try:
        with connect(engine) as conn:
            if "file_event_counts" not in table_names(conn):
                return None, None
            return _first_and_last_dates(conn)
    except MissingTables:
        return None, None


@cached
def currencies(engine: Engine) -> list[str]:
    """Currencies present in the data (the currency filter offers these; every page asks)."""
    try:
        with connect(engine) as conn:
            names = table_names(conn)
            if "user_balances" in names:  # small: one row per user and currency
                source = select(user_balances.c.currency).distinct()
            elif "balance_events" in names:
                source = select(s.balance_events.c.currency).distinct()
            else:
                return []
            return sorted(c for c in conn.execute(source).scalars() if c)
    except MissingTables:
        return []
