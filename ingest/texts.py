"""The text of each stored file, kept once in file_texts, and any event's exact text read back from it.

`file_texts.gzip` expands to the bytes ingest decoded (their sha256 is the file's content_hash, checked on every
read); decoding and splitting them again as ingest did gives every event, found by the `line_no` that every
row derived from it carries. The text is as ingest read it: UTF-8, bad bytes and NUL as U+FFFD, CRLF as LF.
"""
from __future__ import annotations

import hashlib
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from db import schema as s
from db.events import every_event
from errors import BalanceLogsError, UsageError
from ingest.events import RawEvent, split_aws_json, split_events
from ingest.reader import decode, expand


class TextNotKept(BalanceLogsError):
    """The file was stored before its text was kept (migration 0011), or its kept text is damaged."""


def file_text(conn: Connection, file_id: int) -> str:
    """The decoded text of a stored file. UsageError when there is no such file, TextNotKept when its text
    was not kept or does not match the file's content hash."""
    return _decoded(conn, file_id)[0]


def _decoded(conn: Connection, file_id: int) -> tuple[str, str]:
    """(the file's decoded text, its format), as file_text checks them."""
    f, t = s.ingested_files.c, s.file_texts.c
    row = conn.execute(select(f.content_hash, f.format, t.gzip).select_from(s.ingested_files.outerjoin(s.file_texts))
                       .where(f.file_id == file_id)).first()
    if row is None:
        raise UsageError(f"no file {file_id} in ingested_files")
    content_hash, fmt, kept = row
    if kept is None:
        raise TextNotKept(f"file {file_id} was ingested before file texts were kept (migration 0011): parsed_logs.text "
                          "holds the first line of its events; ingest again with --full-refresh to keep the whole text")
    raw = expand(bytes(kept))
    if hashlib.sha256(raw).hexdigest() != content_hash:
        raise TextNotKept(f"the kept text of file {file_id} does not match its content hash {content_hash[:12]}…")
    return decode(raw).text, fmt


def events_of(conn: Connection, file_id: int) -> list[RawEvent]:
    """The file's events as ingest split them, in file order."""
    text, fmt = _decoded(conn, file_id)
    return split_aws_json(text)[0] if fmt == "aws-json" else split_events(text)


def as_text(event: RawEvent) -> str:
    """An event as the export printed it: '<timestamp> <message>', every line of the message (the empty line
    after it not included). Text before the first timestamp has no timestamp."""
    return event.body if event.ts is None else f"{event.ts} {event.body}"


def event_text(conn: Connection, file_id: int, line_no: int) -> str:
    """The exact text of the event that starts at `line_no` of file `file_id`."""
    for event in events_of(conn, file_id):
        if event.line_no == line_no:
            return as_text(event)
    raise UsageError(f"no event of file {file_id} starts at line {line_no}")


def request_events(conn: Connection, request_id: str) -> list[tuple[int, int]]:
    """(file_id, line_no) of every event of one invocation, in time order. Nothing is indexed by request id
    (migration 0012): an invocation's events are in its log stream's files, found by the invocation's row, and
    within a day of its first (db/events.py finds the typed rows by day)."""
    inv, f = s.invocations.c, s.ingested_files.c
    found = conn.execute(select(inv.file_id, inv.stream_name, inv.business_date)
                         .where(inv.request_id == request_id)).first()
    if found is None:
        raise UsageError(f"no invocation {request_id} in invocations")
    file_id, stream, day = found
    same_files = or_(f.file_id == file_id, f.stream_name == stream) if stream else f.file_id == file_id
    days = [(date.fromisoformat(day) + timedelta(days=n)).isoformat() for n in (-1, 1)] if day else [None, None]
    events = every_event(*days, request_id=request_id, files=select(f.file_id).where(same_files)).subquery()
    return [tuple(row) for row in conn.execute(
        select(events.c.file_id, events.c.line_no).order_by(events.c.ts, events.c.file_id, events.c.line_no))]


class EventTexts:
    """Event texts for many (file_id, line_no) keys, each file expanded once while it is among the
    `files` most recently asked for: rows in time order come from few files at a time."""

    def __init__(self, conn: Connection, files: int = 64):
        self.conn = conn
        self._lines = lru_cache(maxsize=files)(self._texts_by_line)

    def _texts_by_line(self, file_id: int) -> dict[int, str] | None:
        try:
            return {e.line_no: as_text(e) for e in events_of(self.conn, file_id)}
        except TextNotKept:
            return None

    def get(self, file_id: int, line_no: int) -> str | None:
        """The event's text; None when its file's text was not kept."""
        texts = self._lines(file_id)
        return None if texts is None else texts.get(line_no)
