"""Cut an export folder to the events logged in a time window: what a CloudWatch export task of that range writes.

    python bench/export_window.py /tmp/day160 /tmp/day160-1200 2024-05-19T12:00:00.000Z 2024-05-19T12:15:00.000Z

The scheduler ingests every 15 minutes, so a run brings one window's events, not a day's. Every file of SOURCE
(gzip or plain text, the export's layout kept) is copied to the same place under DEST with only the events whose
timestamp is in [START, END); a file left with none is not written. An event is a line that starts with its
timestamp and the lines after it up to the next such line (docs/log-format.md).
"""
from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.events import EVENT_START  # noqa: E402

_starts_event = re.compile(EVENT_START.pattern.encode()).match  # on bytes: the files are copied byte for byte


def window(data: bytes, start: bytes, end: bytes) -> bytes:
    """The events of `data` whose timestamp is in [start, end), in their order, byte for byte."""
    kept, keep = [], False
    for line in data.splitlines(keepends=True):
        event = _starts_event(line)
        if event:
            keep = start <= event.group(1) < end
        if keep:
            kept.append(line)
    return b"".join(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("start", help="first timestamp kept, as the log prints it (2024-05-19T12:00:00.000Z)")
    parser.add_argument("end", help="first timestamp no longer kept")
    args = parser.parse_args(argv)
    files = 0
    for path in sorted(p for p in args.source.rglob("*") if p.is_file()):
        zipped = path.suffix == ".gz"
        data = path.read_bytes()
        kept = window(gzip.decompress(data) if zipped else data, args.start.encode(), args.end.encode())
        if kept:
            dest = args.dest / path.relative_to(args.source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(gzip.compress(kept) if zipped else kept)
            files += 1
    print(f"{files} file{'' if files == 1 else 's'} with events in [{args.start}, {args.end}) "
          f"written under {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
