"""CPU cost of the parse stage of ingestion: read + decode + parse + prepare, no database.

Runs `ingest.prepare.prepare_source` over every file of a directory in this one process and prints
CPU seconds (time.process_time, so other load on the machine does not count), events, MB of decoded
text and MB/s. With --repeat N the best (lowest CPU) of N passes is reported; the machine is shared,
so compare best-of-N CPU time, not wall time. Read + decode alone (gunzip, SHA-256, UTF-8) is timed in
a separate pass and shown beside it, so the pure-Python parse share is the difference.

    .venv/bin/python bench/bench_parse.py /work/shared/corpus/balance-sync-logs --repeat 5
    .venv/bin/python bench/bench_parse.py /tmp/sample100 --limit 2000 --repeat 3
    .venv/bin/python bench/bench_parse.py DIR --profile 30      # one pass under cProfile, top 30
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, without installing

from ingest.prepare import prepare_source  # noqa: E402
from ingest.reader import find_sources, read_source  # noqa: E402
from settings import load  # noqa: E402


def one_pass(sources, job) -> tuple[float, int, int]:
    events = size = 0
    gc.collect()
    start = time.process_time()
    for source in sources:
        _, rows, error, decoded_size = prepare_source(source, job)
        if rows is not None:
            events += len(rows.events)
        size += decoded_size
    return time.process_time() - start, events, size


def read_decode_pass(sources, limit: int) -> float:
    gc.collect()
    start = time.process_time()
    for source in sources:
        read_source(source, limit)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=3, help="passes; the best CPU time is reported (default 3)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N files, in ingest order")
    ap.add_argument("--profile", type=int, metavar="TOP", default=0,
                    help="instead, one pass under cProfile; print the TOP functions by own time")
    args = ap.parse_args(argv)

    settings = load()
    job = (settings["BUSINESS_TZ"], str(settings.tolerance), settings.max_file_bytes, None)
    sources = list(find_sources([args.dir]))[:args.limit]
    prepare_source(sources[0], job)  # warm imports and caches outside the timing

    if args.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        one_pass(sources, job)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(args.profile)
        return 0

    runs = [one_pass(sources, job) for _ in range(max(1, args.repeat))]
    cpu, events, size = min(runs)
    io_cpu = min(read_decode_pass(sources, settings.max_file_bytes) for _ in range(max(1, min(args.repeat, 3))))
    mb = size / 1e6
    print(f"{len(sources)} files, {events} events, {mb:.1f} MB decoded text")
    print(f"prepare_source CPU: best {cpu:.3f} s of {len(runs)} ({', '.join(f'{r[0]:.3f}' for r in runs)}) "
          f"-> {mb / cpu:.1f} MB/s, {cpu / events * 1e6:.1f} µs/event")
    print(f"  of which read + decode (gunzip, sha256, utf-8): {io_cpu:.3f} s; "
          f"parse + prepare: {cpu - io_cpu:.3f} s -> {mb / (cpu - io_cpu):.1f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
