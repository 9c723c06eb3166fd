"""Split decoded text into log events.

An event starts at a line `YYYY-MM-DDThh:mm:ss.mmmZ <message>` and runs until
the next such line; the empty line CloudWatch writes after every event is
dropped. Text before the first event start (never seen in real exports) is
returned as an event with no timestamp so that it is quarantined, not lost.

A file holding the JSON of `aws logs filter-log-events` / `get-log-events`
is recognised by its first character and read through `json`.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import NamedTuple

EVENT_START = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ", re.MULTILINE)
# The same event starts as split points: a line break followed by an event-start line. A pattern that
# begins with a literal character lets `re` skip ahead with a fast search (about twice as fast as
# finditer over EVENT_START, which tries `^` at every position); a start at offset 0 is tested apart.
_split_before_event = re.compile(r"\n(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z )").split
_starts_with_event = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ").match
TS_LEN = 24  # len('2024-02-13T21:01:05.050Z')
# The most of one event that is stored: the longest event of the real export has 6,267 characters. A longer
# one is quarantined with its first MAX_EVENT_CHARS characters and its length (ingest/parse_file.py).
MAX_EVENT_CHARS = 256 * 1024
# An AWS CLI timestamp is epoch milliseconds from 1970 to 9999 (ISO text with a four-digit year).
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class RawEvent(NamedTuple):
    line_no: int  # 1-based line of the event's first line (for AWS JSON: the event's index)
    ts: str | None  # ISO-8601 UTC with milliseconds and Z; None for text before the first event
    body: str  # the message: everything after '<ts> ', the trailing empty line removed
    stream: str | None = None  # log stream, when the input names it per event (AWS JSON)


# RawEvent(line_no, ts, body, stream) without the Python-level __new__ NamedTuple generates: the same tuple.
_raw_event = tuple.__new__


class EventFormatError(ValueError):
    pass


def looks_like_aws_json(text: str) -> bool:
    head = text.lstrip()[:200]
    return head.startswith("{") and '"events"' in head or head.startswith("[")


def _strip_terminator(body: str) -> str:
    if body.endswith("\n\n"):
        return body[:-2]
    return body[:-1] if body.endswith("\n") else body


def split_events(text: str) -> list[RawEvent]:
    # Each piece is one event's text minus the line break that ended it (split consumes it):
    # '<ts> <message>\n' when the event had its empty line, '<ts> <message>' when not.
    pieces = _split_before_event(text)
    events: list[RawEvent] = []
    line_no = 1
    if not _starts_with_event(pieces[0]):  # text before the first event start, or no event at all
        head = pieces.pop(0)
        if not pieces:
            return [RawEvent(1, None, _strip_terminator(text))] if text.strip() else []
        if head.strip():
            events.append(RawEvent(1, None, _strip_terminator(head + "\n")))
        line_no += head.count("\n") + 1
    last = pieces.pop()
    append = events.append
    for piece in pieces:
        # = _strip_terminator(piece[TS_LEN + 1:] + '\n'), without building that string
        append(_raw_event(RawEvent, (line_no, piece[:TS_LEN],
                                     piece[TS_LEN + 1:-1] if piece.endswith("\n") else piece[TS_LEN + 1:], None)))
        line_no += piece.count("\n") + 1
    append(RawEvent(line_no, last[:TS_LEN], _strip_terminator(last[TS_LEN + 1:])))
    return events


def iso_from_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def split_aws_json(text: str) -> tuple[list[RawEvent], dict[int, str]]:
    """Events of a filter-log-events / get-log-events response (or a bare list of events), and why each
    element that is no usable event is not ({index: reason}; such an element is kept as its JSON text)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventFormatError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    items = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise EventFormatError('JSON without an "events" list is not a CloudWatch Logs response')
    events, problems = [], {}
    for index, item in enumerate(items, start=1):
        problem = _not_an_event(item)
        if problem:
            events.append(RawEvent(index, None, _storable(json.dumps(item, ensure_ascii=False))))
            problems[index] = f"event {index} of the JSON: {problem}"
            continue
        # filter-log-events gives the message without the export timestamp but
        # with the runtime's trailing newline.
        stream = item.get("logStreamName")
        events.append(RawEvent(index, iso_from_ms(item["timestamp"]), _storable(str(item["message"]).rstrip("\n")),
                               None if stream is None else _storable(str(stream))))
    return events, problems


def _not_an_event(item) -> str | None:
    if not isinstance(item, dict) or "message" not in item or "timestamp" not in item:
        return 'not an object with "timestamp" and "message"'
    ts = item["timestamp"]
    if type(ts) is int and 0 <= ts <= MAX_TIMESTAMP_MS:
        return None
    shown = json.dumps(ts, ensure_ascii=False)
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"timestamp {shown} is not epoch milliseconds: an integer from 0 (1970) to {MAX_TIMESTAMP_MS} (9999)"


_unstorable = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> str:
    """JSON escapes can make what no database column holds: NUL (PostgreSQL) and lone surrogates (not UTF-8).
    Both become U+FFFD, as bad bytes of a text file do."""
    return _unstorable.sub("\ufffd", text) if _unstorable.search(text) else text
