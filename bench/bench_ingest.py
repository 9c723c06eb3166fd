"""Ingest benchmark: the real export from scratch, a re-run, and optionally a large sample.

    .venv/bin/python bench/bench_ingest.py [--corpus DIR] [--sample DIR] [--repeat N] [--workers N]

Each case runs `ingest.py` as its own process (as engineers run it) on a fresh
SQLite file in a temporary folder, and reports wall time, peak memory of the
process tree, CPU seconds of the tree, and throughput in MB/s of decompressed log text. The real
export is also loaded with `--workers 1` (one process) for comparison with the default parallel load.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cache_bytecode, measure  # noqa: E402


def ingest(paths: list[str], db: Path, *extra: str) -> dict:
    summary = db.with_suffix(".json")
    result = measure([sys.executable, str(ROOT / "ingest.py"), *paths, "--database-url", f"sqlite:///{db}",
                      "--summary-json", str(summary), "-q", *extra], cwd=str(ROOT))
    if result["returncode"] not in (0, 3):
        raise SystemExit(f"ingest failed: {result['stderr']}")
    data = json.loads(summary.read_text())
    result.update(mb=round(data["bytes_read"] / 1e6, 1), events=data["events"], files_new=data["files_new"],
                  mb_per_s=round(data["bytes_read"] / 1e6 / result["seconds"], 1) if data["bytes_read"] else None)
    for key in ("stdout", "stderr", "returncode"):
        result.pop(key)
    return result


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/balance-sync-logs"))
    parser.add_argument("--sample", help="a large export (e.g. python -m sample --users 50000 --days 160)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, help="passed to ingest.py (default: its own default)")
    args = parser.parse_args()
    workers = ("--workers", str(args.workers)) if args.workers else ()
    results = {}
    cache_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, extra in (("real export, ingest only", ("--no-transform", *workers)),
                            ("real export, ingest only, one process", ("--no-transform", "--workers", "1")),
                            ("real export, ingest + transforms", workers)):
            runs = []
            for i in range(args.repeat):
                runs.append(ingest([args.corpus], tmp / f"{len(results)}-{i}.db", *extra))
            results[name] = best(runs)
        db = tmp / "rerun.db"
        ingest([args.corpus], db)
        results["real export, re-run unchanged"] = best([ingest([args.corpus], db) for _ in range(args.repeat)])
        if args.sample:
            results["sample, ingest only"] = ingest([args.sample], tmp / "sample.db", "--no-transform", *workers)
    for name, r in results.items():
        print(f"{name:40s} {r['seconds']:8.2f} s  cpu {r['cpu_seconds']:7.2f} s  peak {r['peak_mb']:7.1f} MB "
              f"(PSS {r['peak_pss_mb'] or 0:7.1f} MB)  "
              f"{r['mb']:8.1f} MB  {r['mb_per_s'] or 0:6.1f} MB/s  {r['events']} events")


if __name__ == "__main__":
    main()
