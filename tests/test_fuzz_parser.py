"""Fuzzing the log parser: random and mutated exports never crash it, never hang it, and lose nothing.

Every character of the input must be accounted for: each event start
(`YYYY-MM-DDThh:mm:ss.mmmZ ` at the beginning of a line) becomes exactly one
event, parsed or quarantined, whose text is its whole stretch of the input up to
the next start, less the empty line CloudWatch adds; text before the first
start becomes one quarantined event unless it is blank. Bounded: a few hundred
examples per property and a hard alarm per example, so CI time is fixed.
"""
from __future__ import annotations

import re
import signal
from contextlib import contextmanager
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.clock import business_day
from ingest.events import EVENT_START, looks_like_aws_json
from ingest.parse_file import parse_text

SEED = (Path(__file__).parent / "fixtures" / "logs" / "format_doc_examples.log").read_text(encoding="utf-8")
SEED_EVENTS = [m.start() for m in EVENT_START.finditer(SEED)]
HANG_S = 10  # one example taking this long is a hang, not slowness
STATUSES = {"ok", "quarantined", "unknown"}
TOLERANCE = Decimal("0.001")
DAY = business_day(timezone(timedelta(hours=3)))

# Pieces that steer mutations towards the parser's edges: markers, brackets, quotes, numbers, ids.
TOKENS = (
    "\n", "\n\n", "\r\n", "\t", " ", "{", "}", "[", "]", "(", ")", "'", '"', "`", ":", ",", "\\", "\x00", "\ufffd",
    "2024-02-13T21:01:05.050Z ", "\n2024-02-13T21:01:05.050Z ", "\n2024-02-13T21:01:05.050Z\t",
    "\n2024-02-30T10:00:00.000Z ", "\n0000-00-00T00:00:00.000Z ", "\n9999-19-39T29:69:69.999Z x",
    "2024-02-13T21:01:05.050Z\t405bb962-f57b-521d-81a1-e7272fbf6077\tINFO\t", "ERROR\t", "WARN\t",
    "START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "Duration: ", " ms\t", "Init Duration: ",
    "Start syncing the balance {", "transaction: {", "amount: ", "vat: ", "oldBalance: ", "newBalance: ",
    "currency: 'BHD'", "userId: '", "id: '01HPJ4BT09Y3GYQQZD1XFEGDHT'", "metadata: '", "[Object]", "[Array]",
    "... 3 more items", "<ref *1> ", "[Circular *1]", "undefined", "null", "NaN", "Infinity", "-0", "1e309",
    "0.30000000000000004", "225.90753636363627", "99999999999999999999999", "Symbol(foo)", "[Function: f]",
    "new Date(", "Error: boom\n    at Object.<anonymous> (/var/task/index.js:1:1)", "\"events\"", '{"events":[',
)

fragments = st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))


@st.composite
def seed_window(draw) -> str:
    """A run of consecutive events from the format document's examples."""
    first = draw(st.integers(0, len(SEED_EVENTS) - 1))
    last = draw(st.integers(first + 1, min(len(SEED_EVENTS), first + 12)))
    end = SEED_EVENTS[last] if last < len(SEED_EVENTS) else len(SEED)
    return SEED[SEED_EVENTS[first]:end]


@st.composite
def mutated_logs(draw) -> str:
    text = draw(seed_window())
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(("delete", "insert", "duplicate", "replace", "truncate")))
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 120)))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(fragments) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "replace":
            text = text[:i] + draw(fragments) + text[j:]
        else:
            text = text[:j]
    return text


@st.composite
def assembled_logs(draw) -> str:
    """Events built from scratch: real-looking timestamps, bodies from tokens and noise, odd separators."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        ts = draw(st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")) if draw(st.booleans()) \
            else "2024-02-13T21:01:05.050Z"
        body = "".join(draw(st.lists(fragments, max_size=10)))
        parts.append(f"{ts} {body}{draw(st.sampled_from(('', chr(10), chr(10) * 2, chr(10) * 3)))}")
    return draw(st.text(max_size=5)) + "".join(parts)


@contextmanager
def alarm(seconds: int):
    """Turn a hang into a failure: SIGALRM interrupts the parser after `seconds`."""
    def on_alarm(_sig, _frame):
        raise TimeoutError(f"the parser ran for more than {seconds}s on one input (a hang)")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_accounted(text: str) -> None:
    with alarm(HANG_S):
        parsed = parse_text(text, "2024/02/13/[$LATEST]fuzz", DAY, TOLERANCE)
    events = parsed.events
    for ev in events:
        assert ev.status in STATUSES, (ev.status, ev.body)
        assert ev.status != "quarantined" or ev.reason, "a quarantined event says why"
    if looks_like_aws_json(text):
        if parsed.error and (events[0].reason or "").startswith("unreadable CloudWatch JSON"):
            # unreadable JSON: the whole input is kept as one quarantined event
            assert [(ev.status, ev.body) for ev in events] == [("quarantined", text)]
        return
    starts = [m.start() for m in EVENT_START.finditer(text)]
    pos, queue = 0, list(events)
    head = text[:starts[0]] if starts else text
    if head.strip():  # text before the first start: one quarantined event holding it
        ev = queue.pop(0)
        assert (ev.status, ev.line_no) == ("quarantined", 1)
        pos = _consume(text, 0, ev.body, starts[0] if starts else len(text))
    assert len(queue) == len(starts), f"{len(starts)} event starts but {len(queue)} events"
    for ev, start, end in zip(queue, starts, starts[1:] + [len(text)]):
        assert ev.line_no == 1 + text.count("\n", 0, start)
        assert ev.ts in (text[start:start + 24], ""), "an event keeps its timestamp (or is quarantined)"
        assert ev.ts or ev.status == "quarantined"
        pos = _consume(text, start + 25, ev.body, end)
    assert pos == len(text) or not text[pos:].strip()


def _consume(text: str, at: int, body: str, end: int) -> int:
    """The event's body is text[at:end] less a final '\\n' or '\\n\\n': no character lost or added."""
    segment = text[at:end]
    assert segment.startswith(body), f"body {body[:60]!r} is not the input {segment[:60]!r}"
    assert segment[len(body):] in ("", "\n", "\n\n"), f"lost text: {segment[len(body):][:80]!r}"
    return end


BOUNDED = settings(max_examples=300, deadline=timedelta(seconds=HANG_S),
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@BOUNDED
@given(mutated_logs())
@example("2024-02-13T21:01:05.050Z START RequestId: x Version: $LATEST\n\n2024-02-30T10:00:00.000Z hi\n\n")
@example("2024-13-45T25:61:00.000Z hello\n")
def test_mutated_exports_are_parsed_or_quarantined_whole(text):
    check_accounted(text)


@BOUNDED
@given(assembled_logs())
def test_assembled_events_are_parsed_or_quarantined_whole(text):
    check_accounted(text)


@settings(max_examples=200, deadline=timedelta(seconds=HANG_S))
@given(st.text())
@example("")
@example("\n\n")
@example("[")
@example('{"events": [{"timestamp": 1, "message": "x"}, 3]}')
def test_arbitrary_text_is_parsed_or_quarantined_whole(text):
    check_accounted(text)


def test_the_seed_is_parsed_without_quarantine():
    """The mutations start from clean input: every example in the format document parses."""
    parsed = parse_text(SEED, "seed", DAY, TOLERANCE)
    assert len(parsed.events) == len(SEED_EVENTS)
    assert [ev.body[:80] for ev in parsed.events if ev.status == "quarantined"] == []
    assert re.search(r"\S", SEED)
