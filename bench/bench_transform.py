"""Transform benchmark: all transforms on the real export, ingest + transforms from scratch, and a large DB.

    .venv/bin/python bench/bench_transform.py [--corpus DIR] [--sample-db sqlite:///…] [--repeat N]

Cases (each a separate process, as engineers run them, on SQLite):
  1. `ingest.py` on the real export into a fresh database, transforms included, N times (budget 2 s wall,
     judged on the median);
  2. `python -m transform` alone on that database, best of N (share budget 0.4 s, judged on the build's
     in-process time);
  3. with --sample-db, `python -m transform` on an already ingested large database, such as the ~100×
     sample: `python ingest.py /tmp/sample100 --database-url sqlite:////tmp/s100.db --no-transform`
     (budget 60 s wall, 300 MB peak memory of the process tree).
Besides wall time and peak memory, the per-step times printed by the in-process run of case 2 show
where the time goes (on SQLite the two lanes' steps overlap: transform/lanes.py).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cache_bytecode, measure  # noqa: E402

BUDGETS = {"ingest + transforms, real export": (2.0, None), "transforms alone, real export": (0.4, None),
           "transforms alone, sample db": (60.0, 300.0)}
# The 0.4 s is the transforms' share of the 2 s: the build itself (in-process), not a process of its own, whose
# start (Python and SQLAlchemy, 0.25-0.3 s) the 2 s pays once.
JUDGED_IN_PROCESS = {"transforms alone, real export"}


def transform(url: str) -> dict:
    result = measure([sys.executable, "-m", "transform", "--database-url", url, "--json", "--full-refresh",
                      "--env-file", os.devnull], cwd=str(ROOT))
    if result["returncode"] != 0:
        raise SystemExit(f"transform failed: {result['stderr']}")
    result["inside_seconds"] = json.loads(result.pop("stdout"))["seconds"]
    result.pop("stderr"), result.pop("returncode")
    return result


def steps(url: str) -> list[tuple[str, str, float]]:
    """Per-step (lane, wall seconds) of one in-process build. On SQLite the side lane's steps run beside the
    main lane's, so their times overlap; the build's CPU time is reported once, as a whole."""
    import settings as settings_mod
    from db.engine import make_engine
    from transform.runner import build_all
    engine = make_engine(url)
    out = []

    def on_step(step, wall):
        out.append((step.name, step.lane, round(wall, 3)))
    cpu = time.process_time()
    build_all(engine, settings_mod.load(env_file=os.devnull, DATABASE_URL=url), on_step=on_step)
    out.append(("(whole build, CPU s of both lanes)", "", round(time.process_time() - cpu, 3)))
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/balance-sync-logs"))
    parser.add_argument("--sample-db", help="SQLAlchemy URL of an ingested large database (it is rebuilt in place)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = {}
    cache_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for n in range(args.repeat + 1):  # the first for its peak memory only: the sampler slows it (measure())
            db = Path(tmp) / f"corpus{n}.db"
            run = measure([sys.executable, str(ROOT / "ingest.py"), args.corpus, "--database-url", f"sqlite:///{db}",
                           "-q", "--env-file", os.devnull], cwd=str(ROOT), memory=n == 0)
            if run["returncode"] not in (0, 3):
                raise SystemExit(f"ingest failed: {run['stderr']}")
            runs.append({k: run[k] for k in ("seconds", "peak_mb")})
        timed = runs[1:]
        median = round(statistics.median(r["seconds"] for r in timed), 3)
        results["ingest + transforms, real export"] = {**min(timed, key=lambda r: r["seconds"]), "median": median,
                                                       "peak_mb": runs[0]["peak_mb"]}
        url = f"sqlite:///{Path(tmp) / 'corpus0.db'}"
        results["transforms alone, real export"] = min((transform(url) for _ in range(args.repeat)),
                                                       key=lambda r: r["seconds"])
        per_step = steps(url)
    if args.sample_db:
        results["transforms alone, sample db"] = transform(args.sample_db)
    print(f"{'case':<36} {'wall s':>8} {'median s':>8} {'in-process s':>12} {'peak MB':>8}  budget  (wall: best of "
          f"{args.repeat})")
    for name, r in results.items():
        wall_budget, mem_budget = BUDGETS[name]
        judged = r.get("median", r["seconds"])  # a run of several: its median, not its luckiest
        if name in JUDGED_IN_PROCESS:
            judged = r["inside_seconds"]
        verdict = "ok" if judged <= wall_budget and (mem_budget is None or r["peak_mb"] <= mem_budget) else "OVER"
        budget = f"{wall_budget} s" + (f", {mem_budget} MB" if mem_budget else "")
        print(f"{name:<36} {r['seconds']:>8} {r.get('median', ''):>8} {r.get('inside_seconds', ''):>12} "
              f"{r['peak_mb']:>8}  {budget} {verdict}")
    print("\nper step on the real export (lane, wall s):")
    for name, lane, wall in per_step:
        print(f"  {name:<36} {lane:<7} {wall:>7}")


if __name__ == "__main__":
    main()
