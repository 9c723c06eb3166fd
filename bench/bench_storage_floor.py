"""Storage floor: what SQLite alone needs to store what an ingest stores, with no parsing at all.

    .venv/bin/python bench/bench_storage_floor.py /tmp/s100.db [--repeat N]

The ingest tables of an already ingested SQLite database are copied into a new file with the same
schema, the same settings as `ingest.py` (WAL, synchronous NORMAL, its page cache and checkpoint
interval), in transactions of about one worker group's events, with the bulk-load indexes dropped
during the copy and built afterwards, as ingest does (db/indexes.py); then the file is closed (the
last WAL checkpoint). Everything happens inside SQLite (INSERT … SELECT): no Python per row, no
log text read, no parse. Throughput is given against the decoded log text the source database was
ingested from (`ingested_files.size_bytes`), like the ingest benchmark's, so the two compare
directly: an ingest cannot be faster than this on the same machine. (If anything the floor is a little
high: reading the source database is part of the copy, and the derived columns of `balance_events`
are copied too when the source was transformed.)
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db import sqlite_pragmas  # noqa: E402
from db.indexes import BULK_TABLES  # noqa: E402
from ingest.store import PART_EVENTS  # noqa: E402

INGEST_TABLES = ("ingested_files", "parsed_logs", "file_event_counts", "unknown", "quarantine", "balance_events",
                 "transaction_conflicts", "not_in_sync_events", "negative_balance_guards", "invocations")
ROWS_PER_COMMIT = {"parsed_logs": PART_EVENTS}  # other tables: far fewer rows per group
OTHER_ROWS_PER_COMMIT = 100_000


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def copy_once(source: str, target: str) -> dict[str, float]:
    _remove(target)
    started = time.perf_counter()
    db = sqlite3.connect(target, isolation_level=None)
    sqlite_pragmas.write_ahead_log(db)  # (WAL, synchronous NORMAL)
    sqlite_pragmas.ingest_writer(db)  # (its page cache and checkpoint interval)
    db.execute("ATTACH ? AS src", (source,))
    schema = db.execute("SELECT type, name, tbl_name, sql FROM src.sqlite_master WHERE sql IS NOT NULL").fetchall()
    rebuilt = {table.name for table in BULK_TABLES}
    for kind, _name, table, sql in schema:  # tables first, then the indexes kept during a bulk load
        if kind == "table" and table in INGEST_TABLES:
            db.execute(sql)
    for kind, _name, table, sql in schema:
        if kind == "index" and table in INGEST_TABLES and table not in rebuilt:
            db.execute(sql)
    copied = time.perf_counter()
    for table in INGEST_TABLES:
        low, high = db.execute(f"SELECT MIN(rowid), MAX(rowid) FROM src.{table}").fetchone()
        step = ROWS_PER_COMMIT.get(table, OTHER_ROWS_PER_COMMIT)
        for start in range(low or 0, (high or -1) + 1, step):
            db.execute("BEGIN")
            db.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE rowid >= ? AND rowid < ?",
                       (start, start + step))
            db.execute("COMMIT")
    indexed = time.perf_counter()
    for kind, _name, table, sql in schema:
        if kind == "index" and table in rebuilt:
            db.execute(sql)
    closing = time.perf_counter()
    text_bytes = db.execute("SELECT SUM(size_bytes) FROM main.ingested_files").fetchone()[0] or 0
    db.execute("DETACH src")
    db.close()
    done = time.perf_counter()
    return {"schema": copied - started, "copy": indexed - copied, "indexes": closing - indexed,
            "close": done - closing, "total": done - started, "text_mb": text_bytes / 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("source", help="an ingested SQLite database file (it is only read)")
    ap.add_argument("--target", default=None, help="the copy (default: <source>.floor, removed afterwards)")
    ap.add_argument("--repeat", type=int, default=1, help="copies; the fastest is reported (default 1)")
    args = ap.parse_args(argv)
    target = args.target or args.source + ".floor"
    runs = []
    try:
        for _ in range(args.repeat):
            runs.append(copy_once(args.source, target))
    finally:
        _remove(target)
    best = min(runs, key=lambda r: r["total"])
    print(f"storage floor of {args.source}: {best['text_mb']:,.0f} MB of log text")
    print("  " + "  ".join(f"{k} {best[k]:.2f} s" for k in ("schema", "copy", "indexes", "close", "total")))
    totals = ", ".join(f"{r['total']:.2f}" for r in runs)
    print(f"  -> at most {best['text_mb'] / best['total']:.1f} MB/s for any ingest on this machine "
          f"(best of {len(runs)}: {totals} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
