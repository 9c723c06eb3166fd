"""Reports benchmark: `python -m reports all` on the real export and on the ~100× sample.

    .venv/bin/python bench/bench_reports.py [--corpus DIR] [--sample-db sqlite:///…] [--repeat N] [--kinds]

Each case runs `python -m reports` as its own process (as the scheduler and
engineers run it) and reports wall time and the peak memory of the process
tree (bench/measure.py). Cases:
  1. `reports all` on the real export, ingested (with transforms) into a fresh
     SQLite file first; best of N;
  2. with --sample-db, `reports all` on an ingested large database such as the
     ~100× sample (`python ingest.py /tmp/sample100 --database-url
     sqlite:////tmp/sample100.db`): budget 60 s wall and 500 MB peak;
  3. with --kinds, each kind alone on the sample, to show where the time goes.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import measure  # noqa: E402

BUDGET_SECONDS, BUDGET_MB = 60.0, 500.0
KINDS = ("html", "excel", "daily-overdrafts", "weekly-reconciliation")


def reports(kind: str, url: str, out: Path, *extra: str) -> dict:
    result = measure([sys.executable, "-m", "reports", kind, "--out", str(out), "--database-url", url,
                      "--env-file", os.devnull, *extra], cwd=str(ROOT))
    if result["returncode"] != 0:
        raise SystemExit(f"reports {kind} failed: {result['stderr']}")
    files = [Path(line) for line in result.pop("stdout").splitlines()]
    result.update(files={p.name: p.stat().st_size for p in files})
    result.pop("stderr"), result.pop("returncode")
    return result


def line(name: str, r: dict, budget: bool = False) -> str:
    text = f"{name:44s} {r['seconds']:7.2f} s  peak {r['peak_mb']:7.1f} MB"
    if budget:
        ok = r["seconds"] <= BUDGET_SECONDS and r["peak_mb"] <= BUDGET_MB
        text += f"  budget {BUDGET_SECONDS:.0f} s / {BUDGET_MB:.0f} MB: {'OK' if ok else 'OVER'}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/balance-sync-logs"))
    parser.add_argument("--sample-db", help="an ingested large database, e.g. sqlite:////tmp/sample100.db")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", action="store_true", help="also time each kind alone on the sample")
    args = parser.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.corpus and Path(args.corpus).is_dir():
            url = f"sqlite:///{tmp / 'corpus.db'}"
            done = measure([sys.executable, "ingest.py", args.corpus, "--database-url", url, "-q",
                            "--env-file", os.devnull], cwd=str(ROOT))
            if done["returncode"] not in (0, 3):
                raise SystemExit(f"ingest failed: {done['stderr']}")
            runs = [reports("all", url, tmp / f"corpus-{i}") for i in range(args.repeat)]
            out.append(line("reports all, real export (best)", min(runs, key=lambda r: r["seconds"])))
        if args.sample_db:
            result = reports("all", args.sample_db, tmp / "sample")
            out.append(line("reports all, sample db", result, budget=True))
            out.append("  files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in result["files"].items()))
            if args.kinds:
                for kind in KINDS:
                    out.append(line(f"  {kind} alone, sample db", reports(kind, args.sample_db, tmp / kind)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
