"""How far each log stream has been read through the CloudWatch Logs API (table log_stream_checkpoints).

A stream's checkpoint is a list of spans. A span (from_ms, to_ms, count_at_to) says: every event of the stream
with from_ms <= timestamp < to_ms is ingested, and the first count_at_to events at to_ms (the API returns a
stream's events in time order, those of one millisecond always in the same order). A read of a window starting
at S sees every event of the stream from S on, so what it has seen, up to the last event it stored, is one span
from S; spans that meet merge. An event inside a span is never ingested again, whatever windows overlap, and a
window read before or between earlier ones (a backfill) fills exactly what they left out.

A stream's spans are written in the transaction of the events that moved them (ingest/loader.py), so a run
killed between two pages leaves every checkpoint describing exactly what is in the database.

`log_group_reads` keeps where the last complete read of a log group ended: a read without a window starts
there, less an overlap.
"""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.engine import Connection

from db import schema as s


class Span(NamedTuple):
    from_ms: int
    to_ms: int
    count_at_to: int


class StreamCheckpoint(NamedTuple):
    """A stream's spans after some of its events are stored: replaces what the database had for the stream."""
    log_group: str
    stream: str
    spans: tuple[Span, ...]


def covers(spans: list[Span], ts: int, tie: int) -> bool:
    """Is the event at `ts`, the `tie`-th of its stream at that millisecond, inside a span?"""
    return any(span.from_ms <= ts < span.to_ms or (ts == span.to_ms and tie <= span.count_at_to) for span in spans)


def merge(spans: list[Span], new: Span) -> list[Span]:
    """The spans with `new` added, those that meet made one, in time order. Two spans meet when one starts no
    later than the other ends: the later-starting one holds every event from its start."""
    if new.to_ms == new.from_ms and new.count_at_to == 0:
        return sorted(spans)
    out: list[Span] = []
    for span in sorted([*spans, new]):
        if out and span.from_ms <= out[-1].to_ms:
            last = out[-1]
            if span.to_ms > last.to_ms:
                end = (span.to_ms, span.count_at_to)
            elif span.to_ms < last.to_ms:
                end = (last.to_ms, last.count_at_to)
            else:
                end = (last.to_ms, max(last.count_at_to, span.count_at_to))
            out[-1] = Span(last.from_ms, *end)
        else:
            out.append(span)
    return out


def load(conn: Connection, log_group: str) -> dict[str, list[Span]]:
    """{stream: spans} of a log group."""
    t = s.log_stream_checkpoints.c
    found: dict[str, list[Span]] = {}
    for row in conn.execute(select(t.stream_name, t.from_ms, t.to_ms, t.count_at_to)
                            .where(t.log_group == log_group).order_by(t.stream_name, t.from_ms)):
        found.setdefault(row.stream_name, []).append(Span(row.from_ms, row.to_ms, row.count_at_to))
    return found


def write(conn: Connection, items: list[StreamCheckpoint], run_id: int) -> None:
    """Each stream's spans replaced by the ones given (the last item of a stream wins)."""
    latest = {(item.log_group, item.stream): item for item in items}
    t = s.log_stream_checkpoints
    for (group, stream), item in latest.items():
        conn.execute(delete(t).where(and_(t.c.log_group == group, t.c.stream_name == stream)))
        if item.spans:
            conn.execute(t.insert(), [{"log_group": group, "stream_name": stream, "from_ms": span.from_ms,
                                       "to_ms": span.to_ms, "count_at_to": span.count_at_to, "run_id": run_id}
                                      for span in item.spans])


def read_to(conn: Connection, log_group: str, stream_prefix: str) -> int | None:
    """Where the last complete read of the group's streams starting with `stream_prefix` ended (a read of all
    its streams counts for every prefix), or None."""
    t = s.log_group_reads.c
    return conn.execute(select(func.max(t.read_to_ms)).where(
        t.log_group == log_group, or_(t.stream_prefix == stream_prefix, t.stream_prefix == ""))).scalar()


def mark_read(conn: Connection, log_group: str, stream_prefix: str, read_to_ms: int, run_id: int) -> None:
    t = s.log_group_reads
    where = and_(t.c.log_group == log_group, t.c.stream_prefix == stream_prefix)
    before = conn.execute(select(t.c.read_to_ms).where(where)).scalar()
    conn.execute(delete(t).where(where))
    conn.execute(t.insert(), {"log_group": log_group, "stream_prefix": stream_prefix,
                              "read_to_ms": max(read_to_ms, before or read_to_ms), "run_id": run_id})
