"""The command line: `python -m sample --out DIR --days N --users N --seed N [--start 2024-01-01] [--twins] [--junk]
[--truth PATH]`.

Exit status 2 for arguments that cannot be used, 1 when the sample cannot be written.
On success it prints one line: what was written, where, and how long it took.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sample.export import DEFAULT_COMPRESSLEVEL, DEFAULT_START, DEFAULT_WORKERS, SampleUsageError, generate

PROG = "python -m sample"
EXIT_USAGE = 2
EXIT_FAILURE = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line on stderr, exit status 2 (argparse would print the usage too)."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=(
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
    parser.add_argument("--truth", metavar="PATH",
                        help="also inject a case of every detector and discrepancy kind, with near misses, and list "
                             "every finding the export should give in the CSV file PATH (outside --out)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        stats = generate(args.out, args.days, args.users, args.seed, args.start, args.twins, args.junk,
                         args.workers, args.compresslevel, args.truth)
    except SampleUsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{PROG}: error: cannot write the sample: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(stats.as_json(), indent=1) + "\n")
    print(f"sample: {stats.streams} streams, {stats.events} events, {stats.transactions} transactions, "
          f"{stats.not_in_sync} not in sync, {stats.bytes_uncompressed / 1e6:.1f} MB "
          f"({stats.bytes_compressed / 1e6:.1f} MB gzip) in {args.out} [{stats.seconds:.1f}s]")
    return 0
