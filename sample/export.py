"""Deterministic generator of realistic balance-sync CloudWatch exports (`python -m ingest.sample`).

    python -m ingest.sample --out DIR --days N --users N --seed N [--start 2024-01-01] [--twins] [--junk]

writes `DIR/<export-task-uuid>/<YYYY-MM-DD>-[$LATEST]<32 hex>/000000.gz`, byte-compatible
with a real export (shared/docs/log-format.md), and returns/prints a `SampleStats`
that tests use to cross-check ingestion: counts, exact per-currency sums and the
transaction ids of every deliberately injected fault.

The same arguments always give byte-identical files, whatever the number of workers:
the ledger runs sequentially in this process (ingest.sample_ledger), and each day is
logged and written from its own seeded random generator (ingest.sample_streams),
possibly in a worker process. Files are written as they are built, a few days in
flight at most, so memory stays flat however big the export.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path

from sample.ledger.ledger import Ledger
from sample.plan import NIS_MEANING_SWITCH, DayPlan, SampleStats
from sample.streams.writer import DayResult, Options, write_day

__all__ = ["generate", "SampleStats", "SampleUsageError", "NIS_MEANING_SWITCH", "main"]

DEFAULT_START = date(2024, 1, 1)
DEFAULT_WORKERS = 2
DEFAULT_COMPRESSLEVEL = 6
EXIT_USAGE = 2
EXIT_FAILURE = 1
MAX_DAYS = 3660
MAX_USERS = 10_000_000
JUNK_P = 0.05                        # share of stream folders that get macOS junk with --junk
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02" + bytes(4070)
DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(6140)


class SampleUsageError(ValueError):
    """Arguments that cannot be used (exit status 2 on the command line)."""


def generate(out_dir: str | os.PathLike, days: int, users: int, seed: int, start: date | str = DEFAULT_START,
             twins: bool = False, junk: bool = False, workers: int = DEFAULT_WORKERS,
             compresslevel: int = DEFAULT_COMPRESSLEVEL) -> SampleStats:
    """Write a sample export into `out_dir` (new or empty) and return what it contains."""
    began = time.monotonic()
    start = _check(out_dir, days, users, start, workers, compresslevel)
    ledger = Ledger(users, days, seed, start)
    stats = ledger.stats
    stats.out_dir = str(out_dir)
    options = Options(str(out_dir), ledger.export_task, seed, twins, compresslevel)
    junk_rng = random.Random(f"{seed}:junk") if junk else None
    if junk_rng:
        stats.junk_files += _write_root_junk(options)
    for result in _write_days(ledger.plan_days(), options, workers):
        _merge(stats, result)
        if junk_rng:
            stats.junk_files += _write_stream_junk(options, result, junk_rng)
    stats.seconds = round(time.monotonic() - began, 2)
    return stats


def _check(out_dir, days: int, users: int, start: date | str, workers: int, compresslevel: int) -> date:
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


def _write_root_junk(options: Options) -> int:
    """`.DS_Store` at the top and in the export-task folder, as a zip made on macOS leaves them."""
    for folder in (options.out_dir, os.path.join(options.out_dir, options.export_task)):
        os.makedirs(folder, exist_ok=True)
        Path(folder, ".DS_Store").write_bytes(DS_STORE)
    return 2


def _write_stream_junk(options: Options, result: DayResult, rng: random.Random) -> int:
    """`__MACOSX/…/._000000.gz` for some streams, `._000000.gz` and `.DS_Store` inside a few.

    Day 0's first stream always gets all three, so that any --junk sample has each kind.
    """
    written = 0
    for i, name in enumerate(result.stream_names):
        first = result.index == 0 and i == 0
        if first or rng.random() < JUNK_P:
            shadow = Path(options.out_dir, "__MACOSX", options.export_task, name)
            shadow.mkdir(parents=True, exist_ok=True)
            (shadow / "._000000.gz").write_bytes(APPLE_DOUBLE)
            written += 1
        if first or rng.random() < JUNK_P / 2:
            folder = Path(options.out_dir, options.export_task, name)
            (folder / "._000000.gz").write_bytes(APPLE_DOUBLE)
            (folder / ".DS_Store").write_bytes(DS_STORE)
            written += 2
    return written


# --- command line ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line on stderr, exit status 2 (argparse would print the usage too)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sample", description=(
        "Write a deterministic, realistic sample CloudWatch export of the balance-sync Lambda."))
    parser.add_argument("--out", required=True, metavar="DIR", help="new or empty folder to write the export into")
    parser.add_argument("--days", required=True, type=int, metavar="N", help="number of days to cover")
    parser.add_argument("--users", required=True, type=int, metavar="N",
                        help="number of subscribers (50000 users x 160 days is ~100x the real export)")
    parser.add_argument("--seed", required=True, type=int, metavar="N", help="random seed (same seed, same bytes)")
    parser.add_argument("--start", default=DEFAULT_START.isoformat(), metavar="YYYY-MM-DD",
                        help=f"first day (default {DEFAULT_START.isoformat()})")
    parser.add_argument("--twins", action="store_true", help="also write decompressed 000000 twins for some streams")
    parser.add_argument("--junk", action="store_true", help="add macOS junk files (.DS_Store, __MACOSX/, ._*)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                        help=f"writer processes (default {DEFAULT_WORKERS}; the output does not depend on it)")
    parser.add_argument("--compresslevel", type=int, default=DEFAULT_COMPRESSLEVEL, metavar="N",
                        help=f"gzip level 1-9 (default {DEFAULT_COMPRESSLEVEL})")
    parser.add_argument("--stats-json", metavar="PATH", help="also write the SampleStats as JSON to PATH")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        stats = generate(args.out, args.days, args.users, args.seed, args.start, args.twins, args.junk,
                         args.workers, args.compresslevel)
    except SampleUsageError as exc:
        print(f"python -m sample: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"python -m sample: error: cannot write the sample: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(stats.as_json(), indent=1) + "\n")
    print(f"sample: {stats.streams} streams, {stats.events} events, {stats.transactions} transactions, "
          f"{stats.not_in_sync} not in sync, {stats.bytes_uncompressed / 1e6:.1f} MB "
          f"({stats.bytes_compressed / 1e6:.1f} MB gzip) in {args.out} [{stats.seconds:.1f}s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
