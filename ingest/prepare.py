"""Read, decode and parse files; run a function over many calls in worker processes, in order.

`prepare_source` is everything up to the database for one file; `prepared` does it for a list of files,
downloading objects in S3 ahead of the parser. `in_order` runs calls in forked workers with at most
WINDOW_PER_WORKER in flight per worker, so memory stays flat however large the corpus (ingest/parallel.py
uses it).

A job is (BUSINESS_TZ, BALANCE_TOLERANCE, MAX_FILE_MB in bytes, ingest.sources.aws.AwsConfig).
"""
from __future__ import annotations

import collections
import gc
import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from decimal import Decimal
from functools import lru_cache

from errors import DEBUG_ENV, BalanceLogsError, first_line
from ingest.clock import business_day
from ingest.loader import FileRows, prepare
from ingest.parse_file import parse_text
from ingest.reader import Source, read_source
from settings import _parse_tz

WINDOW_PER_WORKER = 2
MIN_FILES_FOR_WORKERS = 8  # below this, starting processes costs more than it saves
MAX_DEFAULT_WORKERS = 4
# Objects in S3 downloaded (and decompressed) at once by threads of a process while it parses: the run waits on
# the parser, not on the network. Each holds at most MAX_FILE_MB of text until its turn.
READ_AHEAD = 8


def default_workers(sqlite_file: bool) -> int:
    """SQLite file: one per core (at most 4), parsing in parallel and writing in turns
    (ingest/parallel.py). PostgreSQL: one, unless `--workers N` asks for more (see docs/ingest.md)."""
    if not sqlite_file:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


@lru_cache(maxsize=4)
def _day_function(tz_text: str):
    return business_day(_parse_tz(tz_text))


def die_with_parent() -> None:
    """Worker initializer: ask Linux to end this worker when the ingest process dies (even by kill -9)."""
    try:
        import ctypes
        import signal
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes instead
        pass


def prepare_source(source: Source, job: tuple, read=None) -> tuple[Source, FileRows | None, str | None, int]:
    """(source, rows, error, decoded size): everything up to, not including, the database. Whatever goes wrong
    with one file is its error, recorded against it; the run goes on with the next. `read`: a function that
    returns the source's Decoded (read ahead), else the source is read here. What no other file could escape
    (AWS refusing access, say: a BalanceLogsError) ends the run."""
    tz_text, tolerance, max_file_bytes, aws = job
    try:
        decoded = read() if read is not None else read_source(source, max_file_bytes, aws)
    except BalanceLogsError:
        raise
    except Exception as exc:  # OSError, a broken zip, …: nothing of the file could be read
        return source, None, f"cannot read: {_described(exc)}", 0
    try:
        parsed = parse_text(decoded.text, source.stream_name, _day_function(tz_text), Decimal(tolerance))
        meta = {"hash": decoded.content_hash, "size_bytes": decoded.size_bytes, "format": decoded.format,
                "damage": decoded.damage, "replaced_chars": decoded.replaced_chars, "kept": decoded.kept}
        return source, prepare(parsed, meta), None, decoded.size_bytes
    except Exception as exc:  # a bug of ours, or input no test foresaw: it costs this file, not the run
        return source, None, f"not ingested: unexpected {_described(exc)}; please report this file", decoded.size_bytes


def _described(exc: Exception) -> str:
    if os.environ.get(DEBUG_ENV):
        traceback.print_exc()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc) else type(exc).__name__


def prepared(sources: list[Source], job: tuple):
    """Each source prepared in this process, in order; objects in S3 are read ahead (READ_AHEAD)."""
    for source, read in _read_ahead(sources, job):
        yield prepare_source(source, job, read)


def _read_ahead(sources: list[Source], job: tuple):
    """(source, None) for a file, read when its turn comes; (source, future's result) for an object in S3, whose
    download started up to READ_AHEAD sources earlier in threads of this process."""
    pending: collections.deque = collections.deque()
    todo = iter(sources)
    pool = None
    try:
        while True:
            while len(pending) < READ_AHEAD:
                source = next(todo, None)
                if source is None:
                    break
                if source.in_s3:
                    pool = pool or ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="read-ahead")
                    pending.append((source, pool.submit(read_source, source, job[2], job[3]).result))
                else:
                    pending.append((source, None))
            if not pending:
                return
            yield pending.popleft()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def in_order(workers: int, fn, calls: list[tuple], initializer, initargs: tuple = ()):
    """fn(*call) for each call, in forked worker processes, yielded in input order with at most
    WINDOW_PER_WORKER calls in flight per worker (bounded memory however many calls there are)."""
    # Forked workers share the parent's memory until they write to it. The collector of a worker would
    # walk (and so copy) every object inherited from the parent, the list of every source file among
    # them; frozen objects are left out of collections (the docs' advice for fork without exec).
    gc.freeze()
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer,
                             initargs=initargs) as pool:
        pending: collections.deque = collections.deque()
        todo = iter(calls)
        for call in todo:
            pending.append(pool.submit(fn, *call))
            if len(pending) >= workers * WINDOW_PER_WORKER:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(fn, *nxt))
            yield result
