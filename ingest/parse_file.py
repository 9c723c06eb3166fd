"""One file's text -> everything ingestion will write for it (no database here).

The result is a plain `ParsedFile`; ids for the database are assigned by the
loader, so this step is pure and can run in a worker process.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal
from operator import attrgetter

from db import schema as s
from ingest.classify import Event, classify
from ingest.clock import ts_to_ms
from ingest.correlate import correlate, invocations
from ingest.events import (MAX_EVENT_CHARS, EventFormatError, looks_like_aws_json, split_aws_json,
                           split_events)
from ingest.transactions import RowError, guard_row, not_in_sync_row, transaction_row


_by_ts = attrgetter("ts")


@dataclasses.dataclass
class ParsedFile:
    events: list[Event]  # in file order
    transactions: list[tuple[Event, dict]]
    not_in_sync: list[tuple[Event, dict]]
    guards: list[tuple[Event, dict]]
    invocations: list[dict]  # file_id filled in by the loader
    is_aws_json: bool = False
    # damage found while splitting: the file as a whole could not be split into events, or events in it
    # have no usable timestamp (each of those is quarantined too)
    error: str | None = None


def parse_text(text: str, stream: str | None, business_date, tolerance: Decimal) -> ParsedFile:
    is_json = looks_like_aws_json(text)
    try:
        raws, unusable = split_aws_json(text) if is_json else (split_events(text), {})
    except EventFormatError as exc:
        ev = Event(0, 1, None, _capped(text))
        ev.quarantine(f"unreadable CloudWatch JSON: {exc}" + _cap_note(text))
        ev.ts, ev.ts_ms, ev.business_date = "", 0, ""
        return ParsedFile([ev], [], [], [], [], is_json, str(exc))
    events = []
    transactions, not_in_sync, guards = [], [], []
    bad_times: list[str] = []  # reasons of the events without a usable timestamp: the file is damaged
    # '<ts up to the second>' -> (epoch ms of that second, business date): the events of a file crowd into
    # few seconds. The date is the same for every millisecond of a second (zone offsets are whole minutes).
    seconds: dict[str, tuple[int, str]] = {}
    for index, (line_no, ts, body, raw_stream) in enumerate(raws):
        ev = Event(index, line_no, ts, _capped(body), raw_stream or stream)
        if len(body) > MAX_EVENT_CHARS:  # kept in part, in quarantine, and not parsed
            ev.quarantine(f"event at line {line_no} is too long to keep whole{_cap_note(body)}")
        elif line_no in unusable:
            ev.quarantine(unusable[line_no])
            bad_times.append(unusable[line_no])
        else:
            try:
                classify(ev)
            except Exception as exc:  # a parser bug must cost one event (kept in quarantine), not the run
                ev.payload = ev.payload_json = None
                ev.quarantine(f"internal parser error ({type(exc).__name__}: {exc}); please report this event")
            if ev.request_id is not None and len(ev.request_id) > ID_CHARS or \
                    ev.message_id is not None and len(ev.message_id) > ID_CHARS:
                _drop_long_ids(ev)
        ts = ev.ts
        second = None
        if ts:
            second = seconds.get(ts[:19])
            if second is None:
                try:
                    ms = ts_to_ms(ts[:20] + "000Z")
                except ValueError:  # shaped like a timestamp but no real instant, e.g. 2024-02-30T10:00:00.000Z
                    ev.quarantine(f"impossible timestamp {ts!r} at line {ev.line_no}, column 1")
                    bad_times.append(ev.reason)
                else:
                    second = seconds[ts[:19]] = (ms, business_date(ms))
        if second is not None:
            ev.ts_ms = second[0] + int(ts[20:23])
            ev.business_date = second[1]
        else:  # kept (quarantined), but it has no usable time
            ev.ts, ev.ts_ms, ev.business_date = "", 0, ""
        events.append(ev)
        if ev.status != "ok":
            continue
        kind = ev.kind
        try:
            if kind == "sync":
                row = transaction_row(ev.payload, tolerance)
                ev.transaction_id, ev.user_id = row["transaction_id"], row["user_id"]
                transactions.append((ev, row))
            elif kind == "not_in_sync":
                row = not_in_sync_row(ev.payload, ev.ts)
                ev.user_id = row["user_id"]
                not_in_sync.append((ev, row))
            elif kind == "negative_balance_guard":
                row = guard_row(ev.payload)
                ev.user_id, ev.transaction_id = row["user_id"], row["transaction_id"]
                guards.append((ev, row))
        except RowError as exc:
            ev.quarantine(str(exc))
    # = in_time_order (by time, ties in file order): `events` is in file order and the sort is stable
    ordered = sorted([e for e in events if e.ts], key=_by_ts)
    correlate(ordered)
    _set_outcomes(ordered, transactions)
    error = None
    if bad_times:
        error = (f"{len(bad_times)} event{'s' if len(bad_times) > 1 else ''} without a usable timestamp, "
                 f"quarantined (first: {bad_times[0]})")
    return ParsedFile(events, transactions, not_in_sync, guards, invocations(ordered, stream), is_json, error)


ID_CHARS = min(s.text_limits(s.parsed_logs)[c] for c in ("request_id", "message_id"))  # 40; a UUID has 36


def _drop_long_ids(ev: Event) -> None:
    """An id longer than its column cannot be stored, and ties nothing together: dropped, and the event
    quarantined with the reason."""
    for name in ("request_id", "message_id"):
        value = getattr(ev, name)
        if value is not None and len(value) > ID_CHARS:
            setattr(ev, name, None)
            ev.quarantine(f"{name.replace('_', ' ')} of {len(value):,} characters is longer than the {ID_CHARS} "
                          f"the database keeps: {value[:39]!r}…")


def _capped(body: str) -> str:
    return body if len(body) <= MAX_EVENT_CHARS else body[:MAX_EVENT_CHARS]


def _cap_note(body: str) -> str:
    if len(body) <= MAX_EVENT_CHARS:
        return ""
    return (f"; {len(body):,} characters, of which the first {MAX_EVENT_CHARS:,} are kept "
            "(ingest.events.MAX_EVENT_CHARS)")


# Later lines of a message say what became of its transaction; the strongest statement wins.
OUTCOME_OF_KIND = {"event_published": "published", "skip_already_synced": "already_synced",
                   "sync_error": "error", "negative_balance_guard": "refused_negative_balance"}
OUTCOME_RANK = {"unknown": 0, "published": 1, "already_synced": 2, "error": 3, "refused_negative_balance": 4}


def _set_outcomes(ordered: list[Event], transactions: list[tuple[Event, dict]]) -> None:
    # Every row gets one, copies of a transaction logged twice in the file included: the loader keeps the
    # first copy, and rows written together must all carry the same columns.
    rows: dict[str, list[dict]] = {}
    for _, row in transactions:
        row["outcome"] = "unknown"
        rows.setdefault(row["transaction_id"], []).append(row)
    for ev in ordered:
        outcome = OUTCOME_OF_KIND.get(ev.kind)
        if outcome is None:
            continue
        for row in rows.get(ev.transaction_id, ()):
            if OUTCOME_RANK[outcome] > OUTCOME_RANK[row["outcome"]]:
                row["outcome"] = outcome
