"""A log group read through the CloudWatch Logs API, as sources for the one parser.

`read_group` pages through FilterLogEvents over a window (all the group's streams at once, up to PAGE_EVENTS
events a request) and yields lists of in-memory `Source`s, one per log stream: the stream's new events as the
JSON the AWS CLI prints (`{"events": [...]}`, a format the parser reads already), each with the checkpoint
its stream reaches once they are stored (checkpoints.py). Events inside a stream's checkpoint are skipped:
windows may overlap freely, nothing is ingested twice.

A stream's events are held until the end of the read and handed over whole, so that a stream read in one run
parses exactly as the export's object of that stream would; and a read hands over whole invocations only (the
parser ties an invocation's lines together within one part):
- once more than `hold_bytes` of messages are held, every stream hands over its complete invocations (up to
  its last REPORT line) and keeps the rest;
- at the end, the events after a stream's last REPORT line wait for the next read when the first of them is
  less than MAX_INVOCATION_MS older than the window's end: that invocation may still be running;
- a stream whose first new event in the window is not a START line was cut by the window's start: its events
  of the MAX_INVOCATION_MS before the start are read too, from the START of the invocation the cut fell in.
Without a window, a read starts where the last complete read of the group ended, less OVERLAP_MS (events
reach CloudWatch late now and then), and the first read takes the whole group.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone

from errors import BalanceLogsError, UsageError
from ingest.reader import Source
from ingest.sources import LOG_GROUP_SCHEME
from ingest.sources.aws import AwsConfig, client, stop
from ingest.sources.checkpoints import Span, StreamCheckpoint, covers, merge

PAGE_EVENTS = 10_000  # the most FilterLogEvents returns at once
HOLD_BYTES = 16 << 20  # messages held before complete invocations are handed over
MAX_INVOCATION_MS = 15 * 60 * 1000  # the longest a Lambda invocation can run
OVERLAP_MS = 60 * 60 * 1000  # a read without a window starts this long before the last one ended
REPORT = "REPORT RequestId:"
START = "START RequestId:"
INIT_START = "INIT_START"


@dataclasses.dataclass(frozen=True)
class LogGroupRead:
    """What to read: a log group, a window of event times (epoch ms; None: from where the last read ended, or
    the beginning / until now) and the streams whose name starts with `stream_prefix`."""
    log_group: str
    start_ms: int | None = None
    end_ms: int | None = None
    stream_prefix: str = ""
    page_events: int = PAGE_EVENTS
    hold_bytes: int = HOLD_BYTES

    @property
    def location(self) -> str:
        return f"{LOG_GROUP_SCHEME}{self.log_group}"


# --- the window, from the command line ---------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def window(since: str | None, start: str | None, end: str | None, now_ms: int | None = None) -> tuple:
    """(start_ms, end_ms) of --since DURATION or --start ISO / --end ISO (each may be None)."""
    if since and (start or end):
        raise UsageError("--since cannot go with --start or --end; give one or the other")
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if since:
        match = _DURATION.match(since)
        if not match:
            raise UsageError(f"--since {since!r} is not a duration like 30m, 12h, 2d or 1w")
        return now_ms - int(match[1]) * _UNIT_MS[match[2]], None
    start_ms, end_ms = _instant(start, "--start"), _instant(end, "--end")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise UsageError(f"--start {start} is after --end {end}; swap them")
    return start_ms, end_ms


def _instant(text: str | None, flag: str) -> int | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a time; write it like 2024-02-13T21:00:00Z") from None
    if moment.tzinfo is None:
        raise UsageError(f"{flag} {text!r} has no offset; add one, e.g. {text}Z or {text}+03:00")
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


# --- reading -----------------------------------------------------------------------------------

@dataclasses.dataclass
class _Stream:
    """One log stream during a read: its spans as stored, and what this read has seen and holds of it."""
    name: str
    spans: list[Span]
    start_ms: int  # this read's span starts here
    tie_ts: int = -1
    tie: int = 0  # the last event's place among the stream's events at tie_ts
    held: list = dataclasses.field(default_factory=list)  # [(event, ts, tie)] new, not yet handed over
    held_bytes: int = 0
    seen: int = 0
    stopped: bool = False  # a part failed: the rest waits for the next run

    def see(self, event: dict) -> bool:
        """Count the event in; True when it is new (outside the stored spans)."""
        ts = event["timestamp"]
        self.tie = self.tie + 1 if ts == self.tie_ts else 1
        self.tie_ts = ts
        self.seen += 1
        if covers(self.spans, ts, self.tie) or self.stopped:
            return False
        self.held.append((event, ts, self.tie))
        self.held_bytes += len(event["message"])
        return True

    def cut_by_the_start(self) -> bool:
        """Is the first event of this read new and in the middle of an invocation?"""
        return self.seen == 1 and len(self.held) == 1 and not self.held[0][0]["message"].startswith((START, INIT_START))

    def prepend(self, events: list[dict]) -> int:
        """The events before this read's start, from the START of the invocation the start cut (`events`: all of
        the stream's events of the MAX_INVOCATION_MS before it): held first, and this read's span starts there.
        Bytes added."""
        starts = [i for i, e in enumerate(events) if e["message"].startswith(START)]
        if not starts:
            return 0  # no START in reach: the invocation is as whole as it gets
        first = starts[-1]
        if first and events[first - 1]["message"].startswith(INIT_START):
            first -= 1  # a cold start: the runtime version comes with it
        while first and events[first - 1]["timestamp"] == events[first]["timestamp"]:
            first -= 1  # the span claims every event of its first millisecond
        ties, placed = {}, []
        for event in events:
            ties[event["timestamp"]] = ties.get(event["timestamp"], 0) + 1
            placed.append((event, event["timestamp"], ties[event["timestamp"]]))
        head = [item for item in placed[first:] if not covers(self.spans, item[1], item[2])]
        self.held[:0] = head
        self.start_ms = events[first]["timestamp"]
        added = sum(len(item[0]["message"]) for item in head)
        self.held_bytes += added
        return added

    def span(self) -> Span:
        """What this read has seen of the stream, up to (not including) the first event still held."""
        if self.held:
            _, ts, tie = self.held[0]
            return Span(self.start_ms, ts, tie - 1)
        return Span(self.start_ms, self.tie_ts, self.tie)

    def take(self, upto: int) -> list[dict]:
        events = [item[0] for item in self.held[:upto]]
        del self.held[:upto]
        self.held_bytes = sum(len(item[0]["message"]) for item in self.held)
        return events


def _complete(held: list) -> int:
    """How many held events make complete invocations: up to the last REPORT line."""
    for index in range(len(held) - 1, -1, -1):
        if held[index][0]["message"].startswith(REPORT):
            return index + 1
    return 0


class GroupReader:
    """Reads one log group: `batches()` yields lists of sources to store; after storing each list, the caller
    reports the parts that failed (`failed`); `complete` says whether the whole window was read and stored."""

    def __init__(self, read: LogGroupRead, config: AwsConfig, spans: dict[str, list[Span]],
                 read_to: int | None, now_ms: int | None = None):
        self.read, self.config = read, config
        now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.end_ms = read.end_ms if read.end_ms is not None else now_ms
        if read.start_ms is not None:
            self.start_ms = read.start_ms
        else:
            self.start_ms = max(0, read_to - OVERLAP_MS) if read_to is not None else 0
        self.spans = spans
        self.streams: dict[str, _Stream] = {}
        self.held_bytes = 0
        self.complete = False
        self.pages = 0

    def batches(self) -> Iterator[list[Source]]:
        try:
            for events in self._pages():
                self._take_in(events)
                if self.held_bytes > self.read.hold_bytes:
                    yield self._hand_over(final=False)
        except BalanceLogsError:  # AWS refused to go on: what was read whole is stored first
            yield self._hand_over(final=False)
            raise
        yield self._hand_over(final=True)
        self.complete = not any(s.stopped for s in self.streams.values())

    def _take_in(self, events: list[dict]) -> None:
        for event in events:
            name = event.get("logStreamName", "")
            if not name.startswith(self.read.stream_prefix):
                continue
            stream = self.streams.get(name)
            if stream is None:
                stream = self.streams[name] = _Stream(name, self.spans.get(name, []), self.start_ms)
            if stream.see(event):
                self.held_bytes += len(event["message"])
                if self.start_ms > 0 and stream.cut_by_the_start():
                    try:
                        before = self._before_start(name)
                    except BalanceLogsError:  # no half invocation is stored on the way out
                        self.held_bytes -= stream.held_bytes
                        stream.take(len(stream.held))
                        stream.stopped = True
                        raise
                    self.held_bytes += stream.prepend(before)

    def failed(self, sources: list[Source]) -> None:
        """Parts that could not be stored: their streams stop here for this run (their checkpoints were not
        moved, so the next run reads those events again)."""
        for source in sources:
            stream = self.streams.get(source.stream)
            if stream is not None:
                stream.stopped = True
                stream.take(len(stream.held))
        self.held_bytes = sum(s.held_bytes for s in self.streams.values())

    def _hand_over(self, final: bool) -> list[Source]:
        sources = []
        for stream in self.streams.values():
            if not stream.held:
                continue
            upto = _complete(stream.held)
            if final and stream.held[upto:] and stream.held[upto][1] < self.end_ms - MAX_INVOCATION_MS:
                upto = len(stream.held)  # the invocation is over, finished or not
            if upto:
                sources.append(self._source(stream, stream.take(upto)))
        self.held_bytes = sum(s.held_bytes for s in self.streams.values())
        return sources

    def _source(self, stream: _Stream, events: list[dict]) -> Source:
        data = json.dumps({"events": events}, ensure_ascii=False).encode()
        checkpoint = StreamCheckpoint(self.read.log_group, stream.name, tuple(merge(stream.spans, stream.span())))
        return Source(self.read.location, f"{stream.name}@{events[0]['timestamp']}", len(data), data=data,
                      stream=stream.name, checkpoint=checkpoint)

    def _before_start(self, stream: str) -> list[dict]:
        """The stream's events of the MAX_INVOCATION_MS before the window's start."""
        events = []
        for page in self._pages(logStreamNames=[stream], startTime=max(0, self.start_ms - MAX_INVOCATION_MS),
                                endTime=self.start_ms - 1):
            events += page
        return events

    def _pages(self, **narrower) -> Iterator[list[dict]]:
        logs = client("logs", self.config)
        args = {"logGroupName": self.read.log_group, "startTime": self.start_ms, "endTime": self.end_ms,
                "limit": self.read.page_events}
        if self.read.stream_prefix:
            args["logStreamNamePrefix"] = self.read.stream_prefix
        if narrower:
            args.pop("logStreamNamePrefix", None)
            args.update(narrower)
        token = None
        while True:
            try:
                page = logs.filter_log_events(**args, **({"nextToken": token} if token else {}))
            except Exception as exc:
                raise stop(exc, self.read.location) or exc from None
            self.pages += 1
            yield page.get("events", [])
            token = page.get("nextToken")
            if not token:
                return
