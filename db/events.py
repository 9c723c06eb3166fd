"""Every log event, whichever ingest table holds it: one row per event, in the columns of parsed_logs.

An event is its `parsed_logs` row when it has one. An event whose typed row holds every value of that row has
none (migration 0015, docs/ingest.md "How events are stored"): a transaction's applied copy (`balance_events`),
a not-in-sync error, a guard refusal, and the START, END and REPORT lines of an invocation (`invocations` points
at them). `every_event()` is the union: `parsed_logs`, and each typed row that has no `parsed_logs` row at its
file and line, with the kind, level and status its event had. START, END and REPORT lines have no event id.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, exists, literal, null, select, union_all

from db import schema as s

COLUMNS = ("event_id", "ts", "business_date", "kind", "detail", "level", "request_id", "message_id",
           "transaction_id", "user_id", "parse_status", "file_id", "line_no", "text", "payload")

# The level each typed kind is logged at: an event logged at another level keeps its parsed_logs row
# (ingest/loader.py), since its typed row does not say.
TYPED_LEVELS = {"sync": "INFO", "not_in_sync": "ERROR", "negative_balance_guard": "INFO",
                "start": None, "end": None, "report": None}


def _in_days(col, date_from: str | None, date_to: str | None) -> list:
    return ([col >= date_from] if date_from else []) + ([col <= date_to] if date_to else [])


def _typed_branch(table, kind: str, date_from, date_to, request_id) -> select:
    c, p = table.c, s.parsed_logs.c
    values = {"event_id": c.event_id, "ts": c.ts, "business_date": c.business_date, "kind": literal(kind),
              "level": literal(TYPED_LEVELS[kind]), "request_id": c.request_id, "message_id": c.message_id,
              "transaction_id": c.transaction_id, "user_id": c.user_id, "parse_status": literal("ok"),
              "file_id": c.file_id, "line_no": c.line_no}
    where = [~exists().where(p.file_id == c.file_id, p.line_no == c.line_no),
             *_in_days(c.business_date, date_from, date_to)]
    if request_id is not None:
        where.append(c.request_id == request_id)
    return _select(values, where)


def _platform_branch(kind: str, date_from, date_to, request_id) -> select:
    """START, END or REPORT lines from `invocations`; an invocation lasts minutes, so its END and REPORT fall
    on its START's business day or the next, which the index by business day narrows to."""
    c, p = s.invocations.c, s.parsed_logs.c
    file_id, line_no, ts, day = {
        "start": (c.file_id, c.line_no, c.start_ts, c.business_date),
        "end": (c.end_file_id, c.end_line_no, c.end_ts, c.end_date),
        "report": (c.report_file_id, c.report_line_no, c.report_ts, c.report_date)}[kind]
    values = {"ts": ts, "business_date": day, "kind": literal(kind), "level": literal(None),
              "request_id": c.request_id, "parse_status": literal("ok"), "file_id": file_id, "line_no": line_no}
    where = [(c.start_ts if kind == "start" else line_no).is_not(None),
             ~exists().where(p.file_id == file_id, p.line_no == line_no), *_in_days(day, date_from, date_to)]
    if kind != "start" and date_from:
        where.append(c.business_date >= (date.fromisoformat(date_from) - timedelta(days=1)).isoformat())
    if kind != "start" and date_to:
        where.append(c.business_date <= date_to)
    if request_id is not None:
        where.append(c.request_id == request_id)
    return _select(values, where)


def _select(values: dict, where: list) -> select:
    return select(*(values.get(name, null()).label(name) for name in COLUMNS)).where(and_(*where))


def every_event(date_from: str | None = None, date_to: str | None = None, request_id: str | None = None,
                files=None):
    """Every event, or those of business days `date_from`..`date_to` (inclusive) and of one request. `files`,
    a select of file ids that hold every event asked for, lets parsed_logs find them by its (file, line) index.
    Unordered: callers order by ts, file_id, line_no (the order events were logged in)."""
    p = s.parsed_logs.c
    where = _in_days(p.business_date, date_from, date_to)
    if files is not None:
        where.append(p.file_id.in_(files))
    if request_id is not None:
        where.append(p.request_id == request_id)
    logged = select(*(p[name] for name in COLUMNS)).where(and_(*where)) if where else \
        select(*(p[name] for name in COLUMNS))
    typed = [_typed_branch(table, kind, date_from, date_to, request_id)
             for table, kind in ((s.balance_events, "sync"), (s.not_in_sync_events, "not_in_sync"),
                                 (s.negative_balance_guards, "negative_balance_guard"))]
    platform = [_platform_branch(kind, date_from, date_to, request_id) for kind in ("start", "end", "report")]
    return union_all(logged, *typed, *platform)
