"""From a parsed file to database rows, and the rows into the database.

`prepare()` is pure (it runs in worker processes): it turns a ParsedFile into
plain row dicts whose `event_id`s are 0-based indexes into the file.
`write()` runs in the single writer: it allocates the file and event ids,
applies the copy of each transaction logged first (ingest/copies.py), and
inserts everything.
The caller wraps one or more whole files in a transaction, so a crash leaves
each file either entirely in or not at all.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from operator import itemgetter

from sqlalchemy import bindparam, delete, exists, func, literal, select, update
from sqlalchemy.engine import Connection

from db import generation, pending
from db import schema as s
from db.events import TYPED_LEVELS
from db.writer import insert_rows, upsert_rows
from ingest import copies
from ingest.classify import Event
from ingest.clock import now_iso, ts_to_ms
from ingest.inspect_parser import to_json_fast
from ingest.parse_file import ParsedFile
from ingest.reader import Source
from ingest.sources import checkpoints
from ingest.texts import events_of

_IN_BATCH = 500


def _chunks(keys: list):
    """`keys` in lists of at most _IN_BATCH, for IN (...)."""
    for start in range(0, len(keys), _IN_BATCH):
        yield keys[start:start + _IN_BATCH]


# A request whose events fall in two files (a CloudWatch export cuts a stream into chunks wherever it
# likes: START in one, REPORT in the next) has one row per file; stored together they make one
# invocation. Counts add up, flags hold if either part says so, the START's file and line are kept (else
# the first seen), the END's time with its line, and every other column keeps the first value that is not NULL.
_FROM_START_ROW = "CASE WHEN {table}.start_ts IS NULL AND excluded.start_ts IS NOT NULL THEN {new} ELSE {old} END"
# end_ts is the END line's time when there is one (else the REPORT's): it goes with the END's file and line
_FROM_END_ROW = ("CASE WHEN {table}.end_line_no IS NULL AND excluded.end_line_no IS NOT NULL THEN {new} "
                 "ELSE {old} END")
INVOCATION_MERGE = {
    "count_events": "{old} + {new}", "count_messages": "{old} + {new}", "count_starts": "{old} + {new}",
    "count_ends": "{old} + {new}", "count_reports": "{old} + {new}",
    "has_report": "{old} OR {new}", "is_cold_start": "{old} OR {new}",
    "file_id": _FROM_START_ROW, "line_no": _FROM_START_ROW, "business_date": _FROM_START_ROW,
    "stream_name": _FROM_START_ROW, "end_ts": _FROM_END_ROW,
}


@dataclasses.dataclass
class FileRows:
    """Everything one file adds; `event_id` values are indexes into `events` until write()."""
    hash: str
    size_bytes: int
    format: str
    damage: str | None
    replaced_chars: int
    kept: bytes  # the file's text, compressed, for file_texts
    count_events: int
    events: list[dict]  # parsed_logs rows, but for the events below and those a typed row holds whole
    sync_events: list[dict]  # parsed_logs rows of transactions: written for the copies not applied
    line_events: list[dict]  # of START, END and REPORT lines: written unless the only one of their kind
    unknown: list[dict]
    quarantine: list[dict]
    transactions: list[dict]
    not_in_sync: list[dict]
    guards: list[dict]
    invocations: list[dict]
    event_counts: list[dict]  # per business date, kind and detail


@dataclasses.dataclass
class FileOutcome:
    """What became of one file, as the run's summary counts it (built where the file was parsed)."""
    source: Source
    size: int  # decoded bytes
    error: str | None = None  # could not be read
    twin: bool = False  # same content as a file already stored, or earlier in this run
    hash: str | None = None
    events: int = 0
    quarantined: int = 0
    unknown: int = 0
    damage: str | None = None
    replaced_chars: int = 0
    kinds: Counter = dataclasses.field(default_factory=Counter)

    @classmethod
    def of(cls, source: Source, size: int, error: str | None, rows: FileRows | None, twin: bool) -> FileOutcome:
        if rows is None:
            return cls(source, size, error)
        if twin:
            return cls(source, size, error, twin=True, hash=rows.hash)
        return cls(source, size, error, False, rows.hash, rows.count_events, len(rows.quarantine), len(rows.unknown),
                   rows.damage, rows.replaced_chars, _kinds(rows.event_counts))


def _kinds(event_counts: list[dict]) -> Counter:
    kinds: Counter = Counter()
    for row in event_counts:
        kinds[row["kind"]] += row["count_events"]
    return kinds


def _typed(row: dict, ev: Event) -> dict:
    row.update(event_id=ev.index, line_no=ev.line_no, ts=ev.ts, ts_ms=ev.ts_ms, business_date=ev.business_date,
               request_id=ev.request_id, message_id=ev.message_id)
    if row.get("transaction_id") is None:
        row["transaction_id"] = ev.transaction_id
    return row


# Kinds whose parsed object a typed table holds: balance_events, not_in_sync_events, negative_balance_guards and
# invocations. Their parsed_logs row has no payload; the exact text is in file_texts for every kind.
TYPED_KINDS = frozenset(TYPED_LEVELS)
INVOCATION_LINES = ("start", "end", "report")  # the lines an invocations row counts and points at
# The values an event's parsed_logs row shares with its typed row: equal, the typed row holds the event
_SHARED = ("ts", "ts_ms", "business_date", "request_id", "message_id", "transaction_id", "user_id", "line_no")


def _held(events: list[dict], parsed: ParsedFile) -> dict[int, str]:
    """The events whose typed row will hold every value of their parsed_logs row, which is then left out
    (db/events.py), by index: "typed" for a not-in-sync error or a guard refusal, "sync" for a transaction
    (left out if its copy is the one applied), "line" for a START, END or REPORT line that is the only one of its
    kind of its request in the file (left out if it is the only one stored, too)."""
    held = {}
    for kind, pairs in (("sync", parsed.transactions), ("typed", parsed.not_in_sync), ("typed", parsed.guards)):
        for ev, row in pairs:
            logged = events[ev.index]
            if (logged["level"] == TYPED_LEVELS[logged["kind"]] and logged["detail"] is None
                    and all(logged[c] == row[c] for c in _SHARED)):
                held[ev.index] = kind
    readable = [row for row in events if row["kind"] in INVOCATION_LINES and row["parse_status"] == "ok"
                and row["request_id"] is not None]
    lines = Counter((row["request_id"], row["kind"]) for row in readable)
    for row in readable:
        if (lines[row["request_id"], row["kind"]] == 1 and row["level"] is None and row["detail"] is None
                and row["message_id"] is None and row["transaction_id"] is None and row["user_id"] is None):
            held[row["event_id"]] = "line"
    return held


def _payload(ev: Event) -> str | None:
    if ev.payload is None or ev.kind in TYPED_KINDS:
        return None
    return ev.payload_json or to_json_fast(ev.payload)


def prepare(parsed: ParsedFile, decoded_meta: dict) -> FileRows:
    events = [{
        "event_id": ev.index, "line_no": ev.line_no, "ts": ev.ts, "ts_ms": ev.ts_ms,
        "business_date": ev.business_date, "kind": ev.kind, "detail": ev.detail, "level": ev.level,
        "request_id": ev.request_id, "message_id": ev.message_id, "transaction_id": ev.transaction_id,
        "user_id": ev.user_id, "parse_status": ev.status, "payload": _payload(ev),
    } for ev in parsed.events]
    problems = [ev for ev in parsed.events if ev.status != "ok"]  # usually none: one pass over the events
    unknown = [{"event_id": ev.index, "line_no": ev.line_no, "ts": ev.ts, "raw": ev.body}
               for ev in problems if ev.status == "unknown"]
    quarantine = [{"event_id": ev.index, "line_no": ev.line_no, "kind": ev.kind, "reason": ev.reason,
                   "raw": ev.body} for ev in problems if ev.status == "quarantined"]
    transactions = [_typed(row, ev) for ev, row in parsed.transactions]
    not_in_sync = [_typed(row, ev) for ev, row in parsed.not_in_sync]
    guards = [_typed(row, ev) for ev, row in parsed.guards]
    held = _held(events, parsed)  # after _typed: the typed rows hold the event's values now
    written = [row for row in events if row["event_id"] not in held]
    sync_events = [row for row in events if held.get(row["event_id"]) == "sync"]
    line_events = [row for row in events if held.get(row["event_id"]) == "line"]
    damage = "; ".join(filter(None, (decoded_meta["damage"], parsed.error))) or None
    if decoded_meta["damage"]:
        last_line = (parsed.events[-1].line_no if parsed.events else 0) + 1
        quarantine.append({"event_id": None, "line_no": last_line, "kind": None,
                           "reason": decoded_meta["damage"], "raw": ""})
    return FileRows(
        decoded_meta["hash"], decoded_meta["size_bytes"], "aws-json" if parsed.is_aws_json else decoded_meta["format"],
        damage, decoded_meta["replaced_chars"], decoded_meta["kept"], len(events), written, sync_events,
        line_events, unknown, quarantine,
        transactions, not_in_sync, guards, parsed.invocations,
        [{"business_date": day, "kind": kind, "detail": detail, "count_events": n}
         for (day, kind, detail), n in Counter((ev.business_date, ev.kind, ev.detail) for ev in parsed.events).items()])


class BatchWriter:
    """Collects whole prepared files and writes them with one executemany per table.

    The single writer holds the ingest lock, so file and event ids are
    allocated here, from the current maxima, without a round trip per file.
    """

    def __init__(self, conn: Connection, run_id: int):
        self.conn, self.run_id = conn, run_id
        self.next_file_id = (conn.execute(select(func.max(s.ingested_files.c.file_id))).scalar() or 0) + 1
        # ids go on from the last file's (ids grow with file ids), whichever table holds its last events
        f = s.ingested_files.c
        last = select(f.first_event_id + f.count_events).where(f.first_event_id.is_not(None))
        self.next_event_id = max(conn.execute(last.order_by(f.file_id.desc()).limit(1)).scalar() or 1,
                                 (conn.execute(select(func.max(s.parsed_logs.c.event_id))).scalar() or 0) + 1)
        self.files: list[dict] = []
        self.tables: dict[str, list[dict]] = {t: [] for t in (
            "file_texts", "parsed_logs", "sync_events", "line_events", "file_event_counts", "unknown", "quarantine",
            "balance_events", "not_in_sync_events", "negative_balance_guards", "invocations")}
        self.events = 0
        self.checkpoints: list = []  # how far log streams are read, written with their events
        self.continued: set[int] = set()  # files of a log stream's later part, read through the API
        self.cold: set[str] = set()  # streams whose first part (with the INIT_START) came through the API

    def add_checkpoint(self, source: Source) -> None:
        """A source read through the CloudWatch Logs API moves its stream's checkpoint in the same transaction
        (also when its content was stored before: a twin)."""
        if source.checkpoint is not None:
            self.checkpoints.append(source.checkpoint)

    def add(self, source: Source, rows: FileRows) -> None:
        file_id, base = self.next_file_id, self.next_event_id
        self.next_file_id += 1
        self.next_event_id += rows.count_events
        self.events += rows.count_events
        self.files.append({
            "file_id": file_id, "path": str(source.path), "relative_path": source.relative_path,
            "member": source.member,
            "stream_name": source.stream_name, "content_hash": rows.hash, "file_size": source.file_size,
            "mtime_ns": source.mtime_ns, "etag": source.etag, "size_bytes": rows.size_bytes, "format": rows.format,
            "status": "damaged" if rows.damage else "ok", "error": rows.damage, "run_id": self.run_id,
            "ingested_at": now_iso(), "count_replaced_chars": rows.replaced_chars,
            "count_events": rows.count_events, "first_event_id": base, "count_quarantined": len(rows.quarantine),
            "count_unknown": len(rows.unknown), "count_transactions": 0})
        self.tables["file_texts"].append({"file_id": file_id, "gzip": rows.kept})
        if source.checkpoint is not None:
            if any(r["kind"] == "init_start" for r in rows.event_counts):
                self.cold.add(source.stream_name)
            else:
                self.continued.add(file_id)
        for name, items in (("parsed_logs", rows.events), ("sync_events", rows.sync_events),
                            ("line_events", rows.line_events), ("file_event_counts", rows.event_counts),
                            ("unknown", rows.unknown),
                            ("quarantine", rows.quarantine), ("balance_events", rows.transactions),
                            ("not_in_sync_events", rows.not_in_sync), ("negative_balance_guards", rows.guards),
                            ("invocations", rows.invocations)):
            for row in items:
                row["file_id"] = file_id
                if row.get("event_id") is not None:
                    row["event_id"] += base
            self.tables[name].extend(items)
        for row in rows.invocations:
            row["end_file_id"] = file_id if row["end_line_no"] is not None else None
            row["report_file_id"] = file_id if row["report_line_no"] is not None else None

    def flush(self) -> dict[int, dict]:
        """Write everything collected; return per-file counts of new transactions and of copies logged again."""
        if self.checkpoints:
            checkpoints.write(self.conn, self.checkpoints, self.run_id)
            self.checkpoints = []
        if not self.files:
            return {}
        plan = copies.plan(self.conn, self.tables["balance_events"],
                           {f["file_id"]: (f["path"], f["member"]) for f in self.files})
        per_file = {f["file_id"]: {"count_transactions": 0, "count_conflicts": 0, "count_duplicates": 0}
                    for f in self.files}
        applied = Counter(row["file_id"] for row in plan.applied)
        for row in plan.applied:
            if row["transaction_id"] not in plan.replaced:  # a copy taking a stored one's place is not new
                per_file[row["file_id"]]["count_transactions"] += 1
        for file_id, kind in plan.again:
            per_file[file_id]["count_" + kind + "s"] += 1
        for f in self.files:
            f["count_transactions"] = applied[f["file_id"]]
        conn = self.conn
        generation.bump(conn)  # the derived tables no longer describe the ingest tables
        # the users and days whose derived rows change, and where each user's ledger first changes: read before
        # the rows that go or merge change
        users = {}
        for row in plan.applied:
            pending.earliest(users, row["user_id"], row["ts"], row["transaction_id"])
        days = {row["business_date"] for row in self.tables["file_event_counts"]}
        for user_id, day, ts, transaction_id in _stored_keys(conn, sorted(plan.replaced)):
            pending.earliest(users, user_id, ts, transaction_id)
            days.add(day)
        stored = _stored_invocations(conn, sorted({row["request_id"] for row in self.tables["invocations"]}))
        days |= {inv["business_date"] for inv in stored.values() if inv["business_date"] is not None}
        # an event a typed row holds whole has no parsed_logs row (db/events.py): a transaction's applied copy, and
        # a START, END or REPORT line that is the only one of its kind of its request, stored or in this batch
        lines = Counter()  # (request, kind): its START, END or REPORT lines, stored and in this batch
        for row in [*self.tables["invocations"], *stored.values()]:
            for kind in INVOCATION_LINES:
                lines[row["request_id"], kind] += row[f"count_{kind}s"] or 0
        applied_ids = {row["event_id"] for row in plan.applied}
        logged = self.tables["parsed_logs"]
        logged += [row for row in self.tables["sync_events"] if row["event_id"] not in applied_ids]
        logged += [row for row in self.tables["line_events"] if lines[row["request_id"], row["kind"]] > 1]
        logged.sort(key=itemgetter("event_id"))  # stored in event order, as one file's rows come
        _restore_lines(conn, [(inv, kind) for request, inv in stored.items() for kind in INVOCATION_LINES
                              if inv[f"count_{kind}s"] == 1 and lines[request, kind] > 1])
        insert_rows(conn, s.ingested_files, self.files)
        insert_rows(conn, s.file_texts, self.tables["file_texts"])
        insert_rows(conn, s.parsed_logs, logged)
        insert_rows(conn, s.file_event_counts, self.tables["file_event_counts"])
        insert_rows(conn, s.unknown, self.tables["unknown"])
        insert_rows(conn, s.quarantine, self.tables["quarantine"])
        _forget_replaced(conn, plan)
        insert_rows(conn, s.balance_events, plan.applied)
        insert_rows(conn, s.transaction_conflicts, plan.conflicts)
        insert_rows(conn, s.not_in_sync_events, self.tables["not_in_sync_events"])
        insert_rows(conn, s.negative_balance_guards, self.tables["negative_balance_guards"])
        _runtime_from_earlier_parts(conn, self.tables["invocations"], self.continued)
        upsert_rows(conn, s.invocations, self.tables["invocations"], key="request_id", merge=INVOCATION_MERGE)
        _runtime_to_later_parts(conn, self.cold)
        # an error or another copy of a transaction stored before changes that transaction's user's rows
        errors = self.tables["not_in_sync_events"]
        for user_id, _day, ts, transaction_id in _stored_keys(conn, sorted(
                {row["transaction_id"] for row in errors + plan.conflicts if row["transaction_id"] is not None})):
            pending.earliest(users, user_id, ts, transaction_id)
        for row in errors:  # untied ones count for their user: from the error's time on ("" sorts first)
            if row["user_id"] is not None:
                pending.earliest(users, row["user_id"], row["ts"], "")
        pending.note(conn, users, days)
        self.files = []
        self.tables = {t: [] for t in self.tables}
        self.events = 0
        self.continued, self.cold = set(), set()
        return per_file


def _runtime_from_earlier_parts(conn: Connection, rows: list[dict], continued: set[int]) -> None:
    """A log stream read through the API in several parts: the runtime version comes from the stream's
    INIT_START, in its first part. Invocations of a later part take it from the stream's stored invocations."""
    need = [row for row in rows if row["file_id"] in continued and row["runtime_version"] is None
            and row["stream_name"] is not None]
    if not need:
        return
    streams = sorted({row["stream_name"] for row in need})
    known: dict[str, str] = {}
    c = s.invocations.c
    for chunk in _chunks(streams):
        known.update(conn.execute(select(c.stream_name, func.max(c.runtime_version))
                                  .where(c.stream_name.in_(chunk), c.runtime_version.is_not(None))
                                  .group_by(c.stream_name)).all())
    for row in need:
        row["runtime_version"] = known.get(row["stream_name"])


def _runtime_to_later_parts(conn: Connection, streams: set[str]) -> None:
    """The other way round: a stream's first part read after its later ones (a window read before an earlier
    one) gives its runtime version to the stored invocations of the stream that have none."""
    c, ordered, first = s.invocations.c, sorted(streams), s.invocations.alias("first_part")
    known = select(func.max(first.c.runtime_version)).where(first.c.stream_name == c.stream_name).scalar_subquery()
    for chunk in _chunks(ordered):
        conn.execute(update(s.invocations).where(c.runtime_version.is_(None), c.stream_name.in_(chunk))
                     .values(runtime_version=known))


def _stored_keys(conn: Connection, transaction_ids: list[str]) -> set[tuple]:
    """(user_id, business_date, ts, transaction_id) of the stored rows of these transactions."""
    b = s.balance_events.c
    return {tuple(r) for chunk in _chunks(transaction_ids) for r in conn.execute(
        select(b.user_id, b.business_date, b.ts, b.transaction_id).where(b.transaction_id.in_(chunk)))}


def _stored_invocations(conn: Connection, request_ids: list[str]) -> dict[str, dict]:
    """The stored invocations these rows merge into (a request split over two files or logged again): their
    business day, and how many START, END and REPORT lines they have, and where."""
    c = s.invocations.c
    cols = [c.request_id, c.business_date, c.file_id, c.line_no, c.start_ts,
            *(c[f"count_{k}s"] for k in INVOCATION_LINES),
            *(c[f"{k}_{col}"] for k in ("end", "report") for col in ("file_id", "line_no", "date")), c.end_ts,
            c.report_ts]
    return {r["request_id"]: dict(r) for chunk in _chunks(request_ids)
            for r in conn.execute(select(*cols).where(c.request_id.in_(chunk))).mappings()}


def _restore_lines(conn: Connection, lines: list[tuple[dict, str]]) -> None:
    """START, END or REPORT lines stored as the only one of their kind of their request, which are no longer:
    they get their parsed_logs row back, under the event id they were logged with (the file's first event id
    and their place in the file)."""
    for inv, kind in lines:
        if kind == "start":
            file_id, line_no, ts, day = inv["file_id"], inv["line_no"], inv["start_ts"], inv["business_date"]
        else:
            file_id, line_no, ts, day = (inv[f"{kind}_{col}"] for col in ("file_id", "line_no", "ts", "date"))
        p = s.parsed_logs.c
        if line_no is None or conn.execute(select(p.event_id).where(p.file_id == file_id,
                                                                    p.line_no == line_no)).first():
            continue
        first = conn.execute(select(s.ingested_files.c.first_event_id)
                             .where(s.ingested_files.c.file_id == file_id)).scalar_one()
        index = next(i for i, event in enumerate(events_of(conn, file_id)) if event.line_no == line_no)
        insert_rows(conn, s.parsed_logs, [{
            "event_id": first + index, "file_id": file_id, "line_no": line_no, "ts": ts, "ts_ms": ts_to_ms(ts),
            "business_date": day, "kind": kind, "detail": None, "level": None, "request_id": inv["request_id"],
            "message_id": None, "transaction_id": None, "user_id": None, "parse_status": "ok", "payload": None}])


SYNC_ROW = ("event_id", "file_id", *_SHARED)  # a sync event's parsed_logs row, from its balance_events row


def _forget_replaced(conn: Connection, plan: copies.Plan) -> None:
    """Stored transactions whose applied copy this batch replaces: their rows go (plan.conflicts holds all
    their copies again), and the files those copies came from count one applied transaction less."""
    b, p = s.balance_events.c, s.parsed_logs.c
    for chunk in _chunks(sorted(plan.replaced)):
        # the stored copy's event is no longer held by a balance_events row: it gets its parsed_logs row back
        conn.execute(s.parsed_logs.insert().from_select(
            [*SYNC_ROW, "kind", "level", "parse_status"],
            select(*(b[c] for c in SYNC_ROW), literal("sync"), literal(TYPED_LEVELS["sync"]), literal("ok"))
            .where(b.transaction_id.in_(chunk), ~exists().where(p.file_id == b.file_id, p.line_no == b.line_no))))
        conn.execute(delete(s.balance_events).where(s.balance_events.c.transaction_id.in_(chunk)))
        conn.execute(delete(s.transaction_conflicts).where(s.transaction_conflicts.c.transaction_id.in_(chunk)))
    if plan.lost:
        f = s.ingested_files.c
        conn.execute(update(s.ingested_files).where(f.file_id == bindparam("lost_file_id"))
                     .values(count_transactions=f.count_transactions - bindparam("lost")),
                     [{"lost_file_id": file_id, "lost": n} for file_id, n in sorted(plan.lost.items())])
