"""System health: skipped events, errors, cold starts, durations and memory per day; ingestion runs,
files and quarantined blocks."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import Filters, as_int, daily_event_counts, daily_health, date_range, fetch
from queries.cache import cached
from queries.paging import Col, TableQuery
from vocabulary import ERROR_KINDS

SKIP_PREFIX = "skip_"


@cached
def health_per_day(engine: Engine, filters: Filters = Filters()) -> list[dict]:
    """`daily_health` rows in the date range, oldest first (durations in ms, memory in MB)."""
    h = daily_health.c
    stmt = select(daily_health).where(*date_range(h.business_date, filters)).order_by(h.business_date)
    return fetch(engine, stmt, ["daily_health"])


def _events_per_day(engine: Engine, filters: Filters, condition) -> list[dict]:
    e = daily_event_counts.c
    stmt = (select(e.business_date, e.kind, e.detail, func.sum(e.count_events).label("count_events"))
            .where(condition, *date_range(e.business_date, filters))
            .group_by(e.business_date, e.kind, e.detail).order_by(e.business_date, e.kind, e.detail))
    return [{**r, "count_events": as_int(r["count_events"])} for r in fetch(engine, stmt, ["daily_event_counts"])]


@cached
def skips_per_day(engine: Engine, filters: Filters = Filters()) -> list[dict]:
    """Per business date, skip kind and detail: number of skipped messages."""
    return _events_per_day(engine, filters, daily_event_counts.c.kind.startswith(SKIP_PREFIX, autoescape=True))


@cached
def errors_per_day(engine: Engine, filters: Filters = Filters()) -> list[dict]:
    """Per business date, error kind and detail (error type): number of errors."""
    return _events_per_day(engine, filters, daily_event_counts.c.kind.in_(ERROR_KINDS))


@cached
def ingest_totals(engine: Engine) -> dict:
    """Counts for the ingestion cards: runs, files by status, quarantined blocks, unknown lines."""
    f = s.ingested_files.c
    stmt = select(
        select(func.count()).select_from(s.ingest_runs).scalar_subquery().label("count_runs"),
        select(func.count()).select_from(s.ingested_files).scalar_subquery().label("count_files"),
        select(func.count()).where(or_(f.status != "ok", f.count_quarantined > 0)).select_from(s.ingested_files)
        .scalar_subquery().label("count_problem_files"),
        select(func.count()).select_from(s.quarantine).scalar_subquery().label("count_quarantined"),
        select(func.count()).select_from(s.unknown).scalar_subquery().label("count_unknown"),
    )
    row = fetch(engine, stmt, ["ingest_runs", "ingested_files", "quarantine", "unknown"])[0]
    return {k: as_int(v) for k, v in row.items()}


INGEST_RUNS = TableQuery(
    name="ingest-runs",
    build=lambda filters: select(
        s.ingest_runs.c.run_id, s.ingest_runs.c.started_at, s.ingest_runs.c.finished_at, s.ingest_runs.c.status,
        s.ingest_runs.c.exit_code, s.ingest_runs.c.count_files_seen, s.ingest_runs.c.count_files_new,
        s.ingest_runs.c.count_files_skipped, s.ingest_runs.c.count_files_damaged, s.ingest_runs.c.count_events,
        s.ingest_runs.c.count_transactions, s.ingest_runs.c.count_quarantined, s.ingest_runs.c.count_unknown,
        s.ingest_runs.c.paths),
    columns=(Col("run_id", "int"), Col("started_at", "ts"), Col("finished_at", "ts"), Col("status"),
             Col("exit_code", "int"), Col("count_files_seen", "int"), Col("count_files_new", "int"),
             Col("count_files_skipped", "int"), Col("count_files_damaged", "int"), Col("count_events", "int"),
             Col("count_transactions", "int"), Col("count_quarantined", "int"), Col("count_unknown", "int"),
             Col("paths")),
    key=("run_id",),
    default_sort=(("run_id", "desc"),),
    needs=("ingest_runs",),
)


def _files_select(filters: Filters):
    f = s.ingested_files.c
    problem = or_(f.status != "ok", f.count_quarantined > 0, f.count_unknown > 0)
    return select(f.file_id, f.path, f.stream_name, f.format, f.status, f.error, f.count_events,
                  f.count_transactions, f.count_quarantined, f.count_unknown, f.count_replaced_chars, f.size_bytes,
                  f.run_id, f.ingested_at, problem.label("has_problem"))


INGESTED_FILES = TableQuery(
    name="ingested-files",
    build=_files_select,
    columns=(Col("file_id", "int"), Col("path"), Col("stream_name"), Col("format"), Col("status"), Col("error"),
             Col("count_events", "int"), Col("count_transactions", "int"), Col("count_quarantined", "int"),
             Col("count_unknown", "int"), Col("count_replaced_chars", "int"), Col("size_bytes", "int"),
             Col("run_id", "int"), Col("ingested_at", "ts"), Col("has_problem", "bool")),
    key=("file_id",),
    default_sort=(("has_problem", "desc"), ("file_id", "desc")),
    needs=("ingested_files",),
)


def _quarantine_select(filters: Filters):
    q, f = s.quarantine.c, s.ingested_files.c
    return (select(q.quarantine_id, q.kind, q.reason, f.path.label("file"), q.line_no, q.raw, q.file_id)
            .select_from(s.quarantine.outerjoin(s.ingested_files, f.file_id == q.file_id)))


QUARANTINE = TableQuery(
    name="quarantine",
    build=_quarantine_select,
    columns=(Col("quarantine_id", "int"), Col("kind"), Col("reason"), Col("file"), Col("line_no", "int"),
             Col("raw"), Col("file_id", "int")),
    key=("quarantine_id",),
    default_sort=(("quarantine_id", "desc"),),
    needs=("quarantine", "ingested_files"),
)
