#!/usr/bin/env python3
"""What reviews cost the grids and exports: median times of the discrepancy and anomaly queries before and after
reviews are recorded, on a copy of a SQLite database (the database given is not changed).

    python bench/bench_reviews.py /tmp/s10.db [--reviews 400] [--repeat 15]

1. Copies the database into a temporary folder.
2. Times, with no review: the first page of each grid (default order), the first discrepancy page sorted by
   amount at stake, a discrepancy page deep in the table, every row of each (what an export streams), and
   the orphaned-reviews lookup.
3. Records `--reviews` reviews (three quarters on discrepancies, a quarter on anomalies; two saves each,
   so every target has a history) and times the same, plus the grid filtered by a review status.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def cases(engine, with_filter: bool) -> dict:
    import queries as q
    from queries.reviews import orphaned_reviews
    f = q.Filters()
    by_stake = [{"colId": "amount_at_stake", "sort": "desc"}]
    out = {
        "discrepancies, first page": (lambda: q.page(engine, q.DISCREPANCIES, f), 1),
        "discrepancies, first page by amount at stake": (lambda: q.page(engine, q.DISCREPANCIES, f,
                                                                         sort_model=by_stake), 1),
        "discrepancies, rows 1000-1020": (lambda: q.page(engine, q.DISCREPANCIES, f, start=1000, end=1020), 1),
        "anomalies, first page": (lambda: q.page(engine, q.ANOMALIES, f), 1),
        "discrepancies, every row (export)": (lambda: sum(1 for _ in q.all_rows(engine, q.DISCREPANCIES, f)), 5),
        "anomalies, every row (export)": (lambda: sum(1 for _ in q.all_rows(engine, q.ANOMALIES, f)), 5),
        "orphaned reviews": (lambda: orphaned_reviews(engine), 1),
    }
    if with_filter:
        out["discrepancies, first page, review=investigating"] = (
            lambda: q.page(engine, q.DISCREPANCIES, f, review="investigating"), 1)
    return out


def record(engine, settings, count: int) -> None:
    import queries as q
    from queries.reviews import record_review
    discrepancies = q.discrepancies(engine, limit=count * 3 // 4)
    anomalies = q.anomaly_findings(engine, limit=count - len(discrepancies))
    targets = ([("discrepancy", str(d["discrepancy_id"])) for d in discrepancies]
               + [("anomaly", a["fingerprint"]) for a in anomalies])
    for n, (target_type, target_id) in enumerate(targets):
        record_review(engine, settings, target_type, target_id, "investigating", reviewer="bench")
        record_review(engine, settings, target_type, target_id, ("explained", "written_off")[n % 2], reviewer="bench")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", help="a SQLite file with the derived tables built")
    parser.add_argument("--reviews", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=15, help="runs per page query (exports run a fifth as often)")
    args = parser.parse_args(argv)

    import settings as settings_mod
    from db.engine import make_engine
    from db.migrate import upgrade
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bench.db"
        shutil.copyfile(args.database, copy)
        url = f"sqlite:///{copy}"
        settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=url)
        upgrade(make_engine(url))
        engine = make_engine(url, readonly=True)
        before = {name: median_ms(fn, max(1, args.repeat // weight))
                  for name, (fn, weight) in cases(engine, False).items()}
        record(make_engine(url), settings, args.reviews)
        after = {name: median_ms(fn, max(1, args.repeat // weight))
                 for name, (fn, weight) in cases(engine, True).items()}
    print(f"{'query':50s} {'no reviews':>12s} {f'{args.reviews} reviewed':>14s}")
    for name, ms in after.items():
        was = f"{before[name]:9.1f} ms" if name in before else ""
        print(f"{name:50s} {was:>12s} {ms:11.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
