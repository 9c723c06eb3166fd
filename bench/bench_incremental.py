"""Adding a day: one more day's streams ingested into a database that holds the days before, end to end.

    .venv/bin/python bench/bench_incremental.py --kept /tmp/s159-keep.db --day /tmp/day160 [--repeat 3] [--workers N]

`--kept` is a SQLite database holding every day before, ingested and built (see docs/benchmarks.md for how the
~100x sample's is made); `--day` a folder with the next day's streams. Each repeat copies the kept database to
a scratch file beside it, then runs `ingest.py DAY` on the copy as engineers do (ingest, the incremental build
of the derived tables, alerts), a process of its own: wall and CPU time and the peak memory of its process
tree (RSS sum and PSS sum, bench/measure.py), with the build's own line from the run summary. Budget: 5 s wall
(median), 300 MB. `--workers 1` loads as the scheduler does (in one process: it runs ingest beside its own threads,
where forking workers is unsafe).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cache_bytecode, measure  # noqa: E402

BUDGET_S, BUDGET_MB = 5.0, 300.0


def one_run(kept: Path, day: Path, workers: int | None = None) -> dict:
    scratch = kept.with_name(kept.stem + "-bench.db")
    _remove(scratch)
    shutil.copyfile(kept, scratch)
    # the copy's pages are still being written back: without this, the run's first fsync (its last checkpoint)
    # waits for gigabytes it did not write (0.8 s of a small run's 3 s)
    with open(scratch, "rb+") as fh:
        os.fsync(fh.fileno())
    summary = scratch.with_suffix(".json")
    try:
        command = [sys.executable, "ingest.py", str(day), "--database-url", f"sqlite:///{scratch}", "-q",
                   "--summary-json", str(summary), "--env-file", os.devnull]
        result = measure(command + (["--workers", str(workers)] if workers else []), cwd=str(ROOT))
        if result["returncode"] != 0:
            raise SystemExit(f"bench_incremental: ingest.py failed: {result['stderr'].strip()}")
        transform = json.loads(summary.read_text()).get("transform") or {}
        result["build"] = f"{transform.get('build')} in {transform.get('seconds')}s"
        return result
    finally:
        _remove(scratch)


def _remove(scratch: Path) -> None:
    """The scratch database with its WAL, shared-memory, lock and summary files."""
    for leftover in scratch.parent.glob(scratch.stem + "*"):
        leftover.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kept", required=True, type=Path, help="the built database of the days before")
    parser.add_argument("--day", required=True, type=Path, help="the folder of the next day's streams")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, help="ingest.py --workers (default: its own)")
    args = parser.parse_args()
    cache_bytecode()
    runs = []
    for n in range(args.repeat):
        r = one_run(args.kept, args.day, args.workers)
        runs.append(r)
        print(f"run {n + 1}: {r['seconds']:.2f} s wall, {r['cpu_seconds']:.2f} s CPU, {r['peak_mb']} MB RSS sum, "
              f"{r['peak_pss_mb']} MB PSS; {r['build']}")
    wall = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    pss = max((r["peak_pss_mb"] or 0) for r in runs) or None
    print(f"add a day: median {wall:.2f} s wall (budget {BUDGET_S} s), peak {peak} MB RSS sum, {pss} MB PSS "
          f"(budget {BUDGET_MB} MB), "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
