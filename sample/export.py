"""`generate`: writes a whole sample export, the ledger planning each day and writers logging it.

The same arguments always give byte-identical files, whatever the number of workers:
the ledger runs sequentially in this process (sample.ledger), and each day is
logged and written from its own seeded random generator (sample.streams),
possibly in a worker process. Files are written as they are built, a few days in
flight at most, so memory stays flat however big the export.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import time
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

from sample.junk import write_root_junk, write_stream_junk
from sample.ledger import Ledger
from sample.plan import DayPlan
from sample.stats import SampleStats
from sample.streams import DayResult, Options, write_day
from sample.truth import truth_rows, write_truth

DEFAULT_START = date(2024, 1, 1)
DEFAULT_WORKERS = 2
DEFAULT_COMPRESSLEVEL = 6
MAX_DAYS = 3660
MAX_USERS = 10_000_000


class SampleUsageError(ValueError):
    """Arguments that cannot be used (exit status 2 on the command line)."""


def generate(out_dir: str | os.PathLike, days: int, users: int, seed: int, start: date | str = DEFAULT_START,
             twins: bool = False, junk: bool = False, workers: int = DEFAULT_WORKERS,
             compresslevel: int = DEFAULT_COMPRESSLEVEL, truth: str | os.PathLike | None = None) -> SampleStats:
    """Write a sample export into `out_dir` (new or empty) and return what it contains.

    With `truth` (a CSV file outside `out_dir`), the detector cases of sample.ledger.cases are injected too and
    every finding the export should give is listed in that file (sample.truth).
    """
    began = time.monotonic()
    start = _check(out_dir, days, users, start, workers, compresslevel, truth)
    ledger = Ledger(users, days, seed, start, cases=truth is not None)
    stats = ledger.stats
    stats.out_dir = str(out_dir)
    options = Options(str(out_dir), ledger.export_task, seed, twins, compresslevel, truth=truth is not None)
    junk_rng = random.Random(f"{seed}:junk") if junk else None
    if junk_rng:
        stats.junk_files += write_root_junk(options)
    logged_ms: dict[str, int] = {}
    for result in _write_days(ledger.plan_days(), options, workers):
        _merge(stats, result)
        if result.logged_ms:
            logged_ms.update(result.logged_ms)
        if junk_rng:
            stats.junk_files += write_stream_junk(options, result, junk_rng)
    if truth is not None:
        rows = truth_rows(ledger.journal, logged_ms, ledger.cases.book, stats)
        write_truth(truth, rows)
        stats.truth_path = str(truth)
        for row in rows:
            if row["expect"] == "finding":
                stats.truth_counts[row["kind"]] = stats.truth_counts.get(row["kind"], 0) + 1
    stats.seconds = round(time.monotonic() - began, 2)
    return stats


def _check(out_dir, days: int, users: int, start: date | str, workers: int, compresslevel: int,
           truth: str | os.PathLike | None = None) -> date:
    """Validate the arguments; return the start date."""
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise SampleUsageError(f"--start {start!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-01") from None
    for name, value, lowest, highest in (("--days", days, 1, MAX_DAYS), ("--users", users, 1, MAX_USERS),
                                         ("--workers", workers, 1, 64), ("--compresslevel", compresslevel, 1, 9)):
        if not isinstance(value, int) or not lowest <= value <= highest:
            raise SampleUsageError(f"{name} must be a whole number from {lowest} to {highest}, not {value!r}")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise SampleUsageError(f"--out {path} is a file; pass a new or empty folder")
    # Empty subfolders are fine (as for `make run`); any file means an export may already be there.
    if path.is_dir() and any(p.is_file() for p in path.rglob("*")):
        raise SampleUsageError(f"--out {path} is not empty; pass a new or empty folder (nothing was written)")
    if truth is not None and path.resolve() in Path(truth).resolve().parents:
        raise SampleUsageError(f"--truth {truth} is inside --out {path}, where ingest would read it; "
                               "put it beside the folder")
    return start


def _write_days(plans: Iterable[DayPlan], options: Options, workers: int) -> Iterator[DayResult]:
    """Write each day, in worker processes when asked; results come back in day order.

    At most two days per worker are in flight, so the ledger never runs far ahead
    of the writers (Pool.imap would read the whole plan iterator into memory).
    """
    if workers == 1:
        for plan in plans:
            yield write_day(plan, options)
        return
    with multiprocessing.get_context().Pool(workers) as pool:
        in_flight: deque = deque()
        for plan in plans:
            in_flight.append(pool.apply_async(write_day, (plan, options)))
            while len(in_flight) >= 2 * workers:
                yield in_flight.popleft().get()
        while in_flight:
            yield in_flight.popleft().get()


def _merge(stats: SampleStats, result: DayResult) -> None:
    for field in ("streams", "events", "invocations", "bytes_uncompressed", "bytes_compressed",
                  "out_of_order_files", "twin_files"):
        setattr(stats, field, getattr(stats, field) + getattr(result, field))
