"""`open_run()`: the ingest of a list of paths, as one block the run sequence (pipeline/) and tests use.

Per source: skip it if the same path, size and mtime (an S3 object: key, size and ETag) were ingested before
(cheap), else read and hash it and skip it if that content is known (twins, copies), else parse it and load it
in one transaction. Damage is recorded and the run goes on; the summary says what happened to every file.
A log group is read through the CloudWatch Logs API instead (`LogGroupRead`): its streams' new events are
parsed and loaded by the same code, each with its stream's checkpoint (ingest/sources/logs.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

from sqlalchemy import delete, event, func, select, update

from db import generation, indexes, pending
from db import schema as s
from db import sqlite_pragmas
from db.engine import make_engine, sqlite_file
from db.lock import ingest_lock
from db.migrate import upgrade
from errors import (EXIT_DAMAGED, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, BalanceLogsError, InputError, describe,
                    first_line)
from ingest.clock import now_iso
from ingest.reader import list_sources
from ingest.sources.aws import config_of, forget_clients
from settings import Settings, redact_url

log = logging.getLogger("balance_logs.ingest")


@dataclasses.dataclass
class Summary:
    run_id: int | None = None
    status: str = "running"
    exit_code: int = EXIT_OK
    database: str = ""
    files_seen: int = 0
    files_new: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    files_damaged: int = 0
    files_not_regular: int = 0  # FIFOs, sockets, devices in the folders: skipped without being opened
    events: int = 0
    events_by_kind: dict = dataclasses.field(default_factory=dict)
    transactions: int = 0
    conflicts: int = 0  # same transaction id, different content
    duplicates: int = 0  # same transaction id, same content (logged again)
    quarantined: int = 0
    unknown: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    problems: list = dataclasses.field(default_factory=list)  # [{"path", "problem"}]
    log_group: dict | None = None  # a read through the CloudWatch Logs API: what was read, how far
    transform: dict | None = None
    alerts: dict | None = None
    error: str | None = None  # why a run that failed stopped

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


BULK_LOAD_MIN_FILES = 50

ProgressFn = Callable[[int, int | None, str], None]  # (done, total, current path)


class Run:
    """An open ingest run: the database migrated and locked for this process, the run recorded."""

    def __init__(self, engine, settings: Settings, sources: list, summary: Summary, read=None):
        self.engine, self.settings, self.sources, self.summary, self.read = engine, settings, sources, summary, read

    def load(self, progress: ProgressFn | None = None, workers: int | None = None) -> None:
        """Parse and store every new source; damage is recorded in the summary and the run goes on. When AWS
        refuses to go on, what was stored stays and the error says so."""
        try:
            if self.read is not None:
                _ingest_log_group(self.engine, self.read, self.settings, self.summary, progress)
            else:
                _ingest_sources(self.engine, self.sources, self.settings, self.summary, progress, workers)
        except BalanceLogsError as exc:
            if self.summary.files_new:
                exc.args = (f"{exc}; the {self.summary.files_new} file(s) ingested before it are kept",)
            raise


@contextlib.contextmanager
def open_run(paths: list[str], settings: Settings, *, full_refresh: bool = False,
             wait: bool = True, read=None) -> Iterator[Run]:
    """The ingest lock and an `ingest_runs` row around a block; the run is closed with its summary when the
    block ends, as 'failed' (or 'interrupted' by Ctrl-C) with its error when it raised. A run killed outright
    stays 'running' until the next run marks it 'interrupted'. `read`: a log group to read through the
    CloudWatch Logs API (ingest.sources.logs.LogGroupRead) instead of `paths`."""
    forget_clients()
    if read is not None:
        sources, paths = [], [read.location]
        listing = None
    else:
        # raises InputError (a missing path or bucket) or AccessDenied before touching the database
        listing = list_sources(paths, config_of(settings))
        if not listing.sources:
            raise _no_log_file(paths, listing.skipped)
        sources = listing.sources
    engine = make_engine(settings.database_url)
    if sqlite_file(engine) is not None:
        event.listen(engine, "connect", sqlite_pragmas.ingest_writer)
    summary = Summary(database=redact_url(settings.database_url))
    for skipped in listing.skipped if listing else ():
        if skipped.not_regular:
            summary.files_not_regular += 1
        else:
            summary.files_failed += 1
        summary.problems.append({"path": skipped.path, "problem": skipped.problem})
    started = time.perf_counter()
    try:
        upgrade(engine)
        with ingest_lock(engine, wait=wait):
            indexes.ensure(engine)  # repairs an earlier bulk load that was killed before rebuilding them
            if full_refresh:
                indexes.drop(engine)  # deleting every row is cheaper without the indexes to update
                _clear(engine)
            summary.run_id = _open_run(engine, paths, settings)
            try:
                yield Run(engine, settings, sources, summary, read)
            except BaseException as exc:
                summary.seconds = round(time.perf_counter() - started, 3)
                _close_failed(engine, summary, exc)
                raise
            finally:
                # A bulk load (or --full-refresh) dropped the secondary indexes; a build rebuilds them in its
                # transaction, otherwise (no build, nothing new to build, a failure) it happens here.
                indexes.ensure(engine)
            _finish(summary)
            summary.seconds = round(time.perf_counter() - started, 3)
            _close_run(engine, summary)
    finally:
        engine.dispose()


def _no_log_file(paths: list[str], skipped: list) -> InputError:
    where = ", ".join(map(str, paths))
    note = ""
    if skipped:
        more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        note = f" ({skipped[0].path}: {skipped[0].problem}{more})"
    return InputError(f"{where}: no log file in it{note}; pass the folder of a CloudWatch export (or set LOG_DIR)")


def _ingest_sources(engine, sources, settings: Settings, summary: Summary, progress, workers: int | None) -> None:
    f = s.ingested_files.c
    with engine.connect() as conn:
        by_path = {(r.path, r.member): (r.file_size, r.mtime_ns, r.etag) for r in conn.execute(
            select(f.path, f.member, f.file_size, f.mtime_ns, f.etag))}
    etags = {version[2] for (_, member), version in by_path.items() if version[2] and member is None}
    todo = []
    for source in sources:
        if by_path.get((str(source.path), source.member)) == (source.file_size, source.mtime_ns, source.etag):
            summary.files_skipped += 1  # same path, size and mtime (or ETag): unchanged since it was ingested
        elif source.etag and source.member is None and source.etag in etags:
            summary.files_skipped += 1  # an object with the ETag of an ingested one: the same bytes
        else:
            todo.append(source)
    summary.files_seen = len(sources)
    # A load larger than what is stored goes faster without secondary indexes; they are rebuilt after.
    if len(todo) > max(BULK_LOAD_MIN_FILES, len(by_path)):
        indexes.drop(engine)  # run() has them rebuilt, whatever happens
    _load(engine, todo, sources, settings, summary, progress, workers)


def _job(settings: Settings) -> tuple:
    """What a worker needs to read and parse a file (ingest.prepare)."""
    return settings["BUSINESS_TZ"], str(settings.tolerance), settings.max_file_bytes, config_of(settings)


def _load(engine, todo, sources, settings: Settings, summary: Summary, progress, workers: int | None) -> None:
    job = _job(settings)
    kinds: Counter = Counter()
    tick = _Ticker(progress, summary.files_skipped, len(sources))
    if todo:
        # The parser's modules (and their compiled regexes) are imported only when there is a file to
        # parse: a re-run on unchanged input stays well under half a second.
        from ingest import prepare
        on_sqlite = sqlite_file(engine) is not None
        if workers is None:
            # objects in S3: one process, its threads downloading ahead of the parser; the network (or the
            # server) is what a run waits on, and each worker would pay for its own AWS client (docs/benchmarks.md)
            workers = 1 if any(source.in_s3 for source in todo) else prepare.default_workers(on_sqlite)
        if not _alone():
            workers = 1
        if workers > 1 and len(todo) >= prepare.MIN_FILES_FOR_WORKERS:
            _load_parallel(engine, on_sqlite, todo, settings, summary, tick, kinds, job, workers)
        else:
            _load_files(engine, todo, job, summary, tick, kinds)
    if progress:
        progress(len(sources), len(sources), "")
    summary.events_by_kind = dict(sorted(kinds.items()))


def _alone() -> bool:
    """May this process fork workers? A fork copies only the calling thread: a lock another thread held at
    that moment would stay locked in the child forever. The scheduler runs ingest in a pool thread beside
    its main thread, so it loads in one process; daemon threads (background helpers such as the
    dashboard's cache warmer, which never touch the parser) are not counted."""
    return sum(1 for t in threading.enumerate() if not t.daemon) <= 1


class _Ticker:
    """Progress per file: (files done, files in all, current path)."""

    def __init__(self, progress: ProgressFn | None, done: int, total: int):
        self.progress, self.done, self.total = progress, done, total

    def __call__(self, source) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total, source.display)


def _load_files(engine, todo, job, summary: Summary, tick: _Ticker, kinds: Counter) -> None:
    """One writer in this process: files in order, committed in batches of whole files (ingest/store.py)."""
    from ingest.prepare import prepared
    from ingest.store import parts, store
    with engine.connect() as conn:  # content already stored: a file with the same content is a twin
        known = set(conn.execute(select(s.ingested_files.c.content_hash)).scalars())
    for batch in parts(_ticked(prepared(todo, job), tick)):
        sources = [item[0] for item in batch]
        written = store(engine, summary.run_id, sources, [batch], job, known)
        del batch  # written: not held while the next batch is parsed
        for outcome in written.files:
            _account(summary, kinds, outcome)
        _flushed(summary, written.per_file)


def _ingest_log_group(engine, read, settings: Settings, summary: Summary, progress) -> None:
    """A log group through the CloudWatch Logs API: each batch of stream parts the reader hands over is parsed
    and stored with the same code as files, each part with its stream's checkpoint in the same transaction."""
    from ingest.prepare import prepared
    from ingest.sources import checkpoints
    from ingest.sources.logs import GroupReader
    from ingest.store import parts, store
    job = _job(settings)
    with engine.connect() as conn:
        spans = checkpoints.load(conn, read.log_group)
        read_to = checkpoints.read_to(conn, read.log_group, read.stream_prefix)
        known = set(conn.execute(select(s.ingested_files.c.content_hash)).scalars())
    reader = GroupReader(read, job[3], spans, read_to)
    summary.log_group = {"log_group": read.log_group, "stream_prefix": read.stream_prefix,
                         "start": _iso(reader.start_ms), "end": _iso(reader.end_ms), "requests": 0,
                         "complete": False}
    kinds: Counter = Counter()
    tick = _Ticker(progress, 0, None)
    try:
        for sources in reader.batches():
            summary.files_seen += len(sources)
            for batch in parts(_ticked(prepared(sources, job), tick)):
                written = store(engine, summary.run_id, [item[0] for item in batch], [batch], job, known)
                del batch
                reader.failed([outcome.source for outcome in written.files if outcome.error is not None])
                for outcome in written.files:
                    _account(summary, kinds, outcome)
                _flushed(summary, written.per_file)
            del sources
        if reader.complete:
            with engine.begin() as conn:
                checkpoints.mark_read(conn, read.log_group, read.stream_prefix, reader.end_ms, summary.run_id)
    finally:
        summary.log_group.update(requests=reader.pages, complete=reader.complete)
        summary.events_by_kind = dict(sorted(kinds.items()))


def _iso(ms: int) -> str:
    from ingest.events import iso_from_ms
    return iso_from_ms(ms)


def _ticked(results, tick: _Ticker):
    for result in results:
        tick(result[0])
        yield result
        del result


def _load_parallel(engine, on_sqlite: bool, todo, settings: Settings, summary: Summary, tick: _Ticker,
                   kinds: Counter, job, workers: int) -> None:
    """Several cores: workers parse groups of files and write them in turns (ingest/parallel.py)."""
    from ingest.parallel import written_groups
    on_connect = sqlite_pragmas.ingest_writer if on_sqlite else None
    with engine.connect() if on_sqlite else contextlib.nullcontext() as conn:
        for written in written_groups(todo, settings.database_url, on_connect, summary.run_id, job, workers):
            for outcome in written.files:
                tick(outcome.source)
                _account(summary, kinds, outcome)
            _flushed(summary, written.per_file)
            if conn is not None:
                sqlite_pragmas.checkpoint_passive(conn)


def _flushed(summary: Summary, per_file: dict) -> None:
    for counts in per_file.values():
        summary.transactions += counts["count_transactions"]
        summary.conflicts += counts["count_conflicts"]
        summary.duplicates += counts["count_duplicates"]


def _account(summary: Summary, kinds: Counter, f) -> None:
    """Count one file (an ingest.loader.FileOutcome) into the summary."""
    summary.bytes_read += f.size
    if f.error is not None:
        summary.files_failed += 1
        summary.problems.append({"path": f.source.display, "problem": f.error})
        return
    if f.twin:
        summary.files_skipped += 1
        return
    summary.files_new += 1
    summary.events += f.events
    summary.quarantined += f.quarantined
    summary.unknown += f.unknown
    kinds.update(f.kinds)
    if f.damage:
        summary.files_damaged += 1
        summary.problems.append({"path": f.source.display, "problem": f.damage})
    if f.replaced_chars:
        summary.problems.append({"path": f.source.display,
                                 "problem": f"{f.replaced_chars} bytes were not UTF-8 (or were NUL) and were replaced"})


def _finish(summary: Summary) -> None:
    damaged = summary.files_failed or summary.files_damaged or summary.quarantined or summary.files_not_regular
    summary.status = "damaged" if damaged else "ok"
    summary.exit_code = EXIT_DAMAGED if damaged else EXIT_OK


def _clear(engine) -> None:
    """--full-refresh: forget every ingested file and row (runs are kept as history)."""
    with engine.begin() as conn:
        for table in (s.log_stream_checkpoints, s.log_group_reads,
                      s.quarantine, s.unknown, s.invocations, s.negative_balance_guards, s.not_in_sync_events,
                      s.transaction_conflicts, s.balance_events, s.file_event_counts, s.parsed_logs,
                      s.file_texts, s.ingested_files):
            conn.execute(delete(table))
        generation.bump(conn)  # the ids start again; the generation does not
        pending.note_everything(conn)  # the next build starts from scratch


def _open_run(engine, paths, settings: Settings) -> int:
    with engine.begin() as conn:
        # A run still 'running' here was killed: its files are either fully in or not at all.
        conn.execute(update(s.ingest_runs).where(s.ingest_runs.c.status == "running").values(status="interrupted"))
        return conn.execute(s.ingest_runs.insert().returning(s.ingest_runs.c.run_id), {
            "started_at": now_iso(), "status": "running", "paths": json.dumps([str(p) for p in paths]),
            "business_tz": settings["BUSINESS_TZ"]}).scalar_one()


def _close_failed(engine, summary: Summary, exc: BaseException) -> None:
    """The row of a run that raised says so, with the error, when the database still answers (else the next
    run marks it 'interrupted')."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    summary.status = "interrupted" if interrupted else "failed"
    summary.exit_code = EXIT_INTERRUPTED if interrupted else getattr(exc, "exit_code", EXIT_FAILURE)
    if not interrupted:
        summary.error = str(exc) if isinstance(exc, BalanceLogsError) else describe(exc)
    try:
        _close_run(engine, summary)
    except Exception as close_error:  # the database itself is what failed: the original error is the story
        log.warning("could not record the end of ingest run %s: %s", summary.run_id, first_line(close_error))


def _close_run(engine, summary: Summary) -> None:
    with engine.begin() as conn:
        conn.execute(update(s.ingest_runs).where(s.ingest_runs.c.run_id == summary.run_id).values(
            finished_at=now_iso(), status=summary.status, exit_code=summary.exit_code,
            count_files_seen=summary.files_seen, count_files_new=summary.files_new,
            count_files_skipped=summary.files_skipped, count_files_failed=summary.files_failed,
            count_files_damaged=summary.files_damaged, count_events=summary.events,
            count_transactions=summary.transactions, count_conflicts=summary.conflicts,
            count_quarantined=summary.quarantined, count_unknown=summary.unknown, bytes_read=summary.bytes_read,
            summary_json=json.dumps(summary.as_dict(), default=str)))


def count_rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in s.INGEST_TABLES}
