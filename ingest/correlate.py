"""Tie events together by request id and message order, not by file order.

Export chunks are out of time order, so the events of a file are first
stable-sorted by timestamp (ties keep file order). Then, inside each
invocation (request id), a `Processing message <id>` line opens a message and
every later line of the invocation belongs to it until the next one; a sync
block names the transaction the message's later lines (not-in-sync, skips,
errors) refer to. EMF metric lines carry no request id: they directly follow
the event they count, so they inherit its ids.
"""
from __future__ import annotations

from db import schema as s
from ingest.classify import Event
from vocabulary import ERROR_KINDS, PLATFORM_KINDS

INVOCATION_ERRORS = frozenset(ERROR_KINDS) - {"init_report"}


def in_time_order(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.ts or "", e.index))


def correlate(ordered: list[Event]) -> None:
    """Fill message_id / transaction_id / user_id of app events and metric lines, in place."""
    state: dict[str, list] = {}  # request id -> [message id, transaction id, user id]
    previous: Event | None = None
    for ev in ordered:
        kind = ev.kind
        if kind == "metric" and previous is not None:
            ev.request_id = previous.request_id
            ev.message_id, ev.transaction_id = previous.message_id, previous.transaction_id
            ev.user_id = ev.user_id or previous.user_id
        elif ev.request_id is not None and kind not in PLATFORM_KINDS:
            current = state.get(ev.request_id)
            if current is None:
                current = state[ev.request_id] = [None, None, None]
            if kind == "processing":
                current[:] = [ev.message_id, None, None]
            elif kind == "sync" and ev.transaction_id:
                current[1], current[2] = ev.transaction_id, ev.user_id
                ev.message_id = current[0]
            else:
                ev.message_id = current[0]
                ev.transaction_id = ev.transaction_id or current[1]
                ev.user_id = ev.user_id or current[2]
        previous = ev


def _ms(value: str | None) -> float | None:
    try:
        return float(value.split()[0]) if value else None
    except ValueError:
        return None


_KEEPS = s.text_limits(s.invocations)
INT_MAX = 2**31 - 1  # an INTEGER column; larger figures of a REPORT line are left NULL (the line keeps them)


def _int(value: str | None) -> int | None:
    try:
        number = int(value.split()[0]) if value else None
    except ValueError:
        return None
    return number if number is None or -INT_MAX <= number <= INT_MAX else None


def _short(value: str | None, most: int) -> str | None:
    """A text that fits its column, else NULL (the event's own row keeps it whole)."""
    return value if value is None or len(value) <= most else None


def invocations(ordered: list[Event], stream: str | None) -> list[dict]:
    """One row per request id seen in the file, from its START/END/REPORT and the stream's INIT_START, with
    where those lines are. `file_id` (the START's file, and the END's and REPORT's) is left for the writer."""
    rows: dict[str, dict] = {}
    runtime = None
    for ev in ordered:
        kind = ev.kind
        if kind == "init_start":
            runtime = _short(ev.detail, _KEEPS["runtime_version"])
            continue
        rid = ev.request_id
        if rid is None or ev.status == "unknown":
            continue
        row = rows.get(rid)
        if row is None:
            row = rows[rid] = {
                "request_id": rid, "file_id": None, "line_no": ev.line_no, "stream_name": ev.stream or stream,
                "start_ts": None, "end_ts": None, "business_date": ev.business_date, "duration_ms": None,
                "billed_duration_ms": None, "memory_size_mb": None, "max_memory_used_mb": None,
                "init_duration_ms": None, "is_cold_start": False, "runtime_version": runtime,
                "xray_trace_id": None, "count_messages": 0, "count_events": 0, "error": None,
                "has_report": False, "count_starts": 0, "count_ends": 0, "count_reports": 0, "end_line_no": None,
                "end_date": None, "report_line_no": None, "report_ts": None, "report_date": None}
        row["count_events"] += 1
        if kind in ("start", "end", "report"):
            row["count_" + kind + "s"] += 1
        if kind == "start":
            row["start_ts"], row["line_no"], row["business_date"] = ev.ts, ev.line_no, ev.business_date
            row["runtime_version"] = runtime
        elif kind == "end":
            row["end_ts"], row["end_line_no"], row["end_date"] = ev.ts, ev.line_no, ev.business_date
        elif kind == "report":
            f = ev.payload or {}
            row.update(has_report=True, duration_ms=_ms(f.get("Duration")),
                       billed_duration_ms=_int(f.get("Billed Duration")),
                       memory_size_mb=_int(f.get("Memory Size")), max_memory_used_mb=_int(f.get("Max Memory Used")),
                       init_duration_ms=_ms(f.get("Init Duration")), xray_trace_id=_short(f.get("TraceId"), _KEEPS["xray_trace_id"]))
            row["is_cold_start"] = row["init_duration_ms"] is not None
            row["end_ts"] = row["end_ts"] or ev.ts
            row["report_line_no"], row["report_ts"], row["report_date"] = ev.line_no, ev.ts, ev.business_date
        elif kind == "processing":
            row["count_messages"] += 1
        elif kind in INVOCATION_ERRORS and row["error"] is None:
            row["error"] = kind if not ev.detail else f"{kind}: {ev.detail}"
    return list(rows.values())
