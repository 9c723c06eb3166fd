"""Read, decode and parse files; run a function over many calls in worker processes, in order.

`prepare_source` is everything up to the database for one file. `in_order` runs calls in forked
workers with at most WINDOW_PER_WORKER in flight per worker, so memory stays flat however large the
corpus (ingest/parallel.py uses it).
"""
from __future__ import annotations

import collections
import gc
import multiprocessing
import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from functools import lru_cache

from errors import DEBUG_ENV, first_line
from ingest.clock import business_day
from ingest.loader import FileRows, prepare
from ingest.parse_file import parse_text
from ingest.reader import Source, read_source
from settings import _parse_tz

WINDOW_PER_WORKER = 2
MIN_FILES_FOR_WORKERS = 8  # below this, starting processes costs more than it saves
MAX_DEFAULT_WORKERS = 4


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


def prepare_source(source: Source, job: tuple[str, str, int]) -> tuple[Source, FileRows | None, str | None, int]:
    """(source, rows, error, decoded size): everything up to, not including, the database. Whatever goes wrong
    with one file is its error, recorded against it; the run goes on with the next."""
    tz_text, tolerance, max_file_bytes = job
    try:
        decoded = read_source(source, max_file_bytes)
    except Exception as exc:  # OSError, a broken zip, …: nothing of the file could be read
        return source, None, f"cannot read: {_described(exc)}", 0
    try:
        parsed = parse_text(decoded.text, source.stream_name, _day_function(tz_text), Decimal(tolerance))
        meta = {"hash": decoded.content_hash, "size_bytes": decoded.size_bytes, "format": decoded.format,
                "damage": decoded.damage, "replaced_chars": decoded.replaced_chars}
        return source, prepare(parsed, meta), None, decoded.size_bytes
    except Exception as exc:  # a bug of ours, or input no test foresaw: it costs this file, not the run
        return source, None, f"not ingested: unexpected {_described(exc)}; please report this file", decoded.size_bytes


def _described(exc: Exception) -> str:
    if os.environ.get(DEBUG_ENV):
        traceback.print_exc()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc) else type(exc).__name__


def prepared(sources: list[Source], job: tuple[str, str]):
    """Each source prepared in this process, in order (the one-process load)."""
    for source in sources:
        yield prepare_source(source, job)


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
