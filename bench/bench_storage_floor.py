"""Storage floor: what SQLite alone needs to store what an ingest stores, with no parsing at all.

    .venv/bin/python bench/bench_storage_floor.py /tmp/s100.db [--repeat N] [--layout texts|lean] [--sizes]

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

`--layout texts` measures the layout of docs/ingest.md, "How events are stored": `parsed_logs` without the
first line of text, with a payload only for the kinds no typed table holds, and each file's text kept once,
compressed, in `file_texts` (the original bytes of a gzip file, read from `ingested_files.path`, else the
text compressed here). The reading of those files is timed with the copy. `--layout lean` measures the step
proposed in docs/benchmarks.md ("Storage: where the bytes go"), since made (migration 0015): the same, and no
`parsed_logs` row for an event a typed table holds, and no `ix_parsed_logs_request`. On a database of migration
0015 or later, `current` is already that layout.
"""
from __future__ import annotations

import argparse
import gzip
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

INGEST_TABLES = ("ingested_files", "file_texts", "parsed_logs", "file_event_counts", "unknown", "quarantine",
                 "balance_events", "transaction_conflicts", "not_in_sync_events", "negative_balance_guards",
                 "invocations")
ROWS_PER_COMMIT = {"parsed_logs": PART_EVENTS}  # other tables: far fewer rows per group
OTHER_ROWS_PER_COMMIT = 100_000


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


# The kinds whose parsed payload a typed table holds (balance_events, not_in_sync_events,
# negative_balance_guards, invocations); the others keep theirs in parsed_logs.payload.
TYPED_KINDS = ("sync", "not_in_sync", "negative_balance_guard", "start", "end", "report")
FILE_TEXTS = "CREATE TABLE file_texts (file_id INTEGER PRIMARY KEY, gzip BLOB NOT NULL)"
LAYOUTS = ("current", "texts", "lean")


def _narrow_parsed_logs(db, start: int, step: int, layout: str) -> None:
    kinds = ", ".join(f"'{k}'" for k in TYPED_KINDS)
    columns = [r[1] for r in db.execute("PRAGMA src.table_info(parsed_logs)")]
    values = ["NULL" if c == "text" else f"CASE WHEN kind IN ({kinds}) THEN NULL ELSE payload END" if c == "payload"
              else c for c in columns]
    typed = f" AND NOT (kind IN ({kinds}) AND parse_status = 'ok')" if layout == "lean" else ""
    db.execute(f"INSERT INTO main.parsed_logs ({', '.join(columns)}) SELECT {', '.join(values)} FROM src.parsed_logs "
               f"WHERE rowid >= ? AND rowid < ?{typed}", (start, start + step))


def _file_texts(db) -> None:
    files = db.execute("SELECT file_id, path FROM src.ingested_files ORDER BY file_id").fetchall()
    for start in range(0, len(files), 500):
        rows = []
        for file_id, path in files[start:start + 500]:
            data = Path(path).read_bytes()
            rows.append((file_id, data if data[:2] == b"\x1f\x8b" else gzip.compress(data, 6)))
        db.execute("BEGIN")
        db.executemany("INSERT INTO main.file_texts VALUES (?, ?)", rows)
        db.execute("COMMIT")


def copy_once(source: str, target: str, layout: str = "current") -> dict[str, float]:
    _remove(target)
    started = time.perf_counter()
    db = sqlite3.connect(target, isolation_level=None)
    sqlite_pragmas.write_ahead_log(db)  # (WAL, synchronous NORMAL)
    sqlite_pragmas.ingest_writer(db)  # (its page cache and checkpoint interval)
    db.execute("ATTACH ? AS src", (source,))
    schema = db.execute("SELECT type, name, tbl_name, sql FROM src.sqlite_master WHERE sql IS NOT NULL").fetchall()
    rebuilt = {table.name for table in BULK_TABLES}
    tables = [table for kind, _name, table, _sql in schema if kind == "table" and table in INGEST_TABLES]
    if layout != "current" and "file_texts" in tables:
        raise SystemExit(f"{source} keeps its file texts already: measure it with --layout current")
    for kind, _name, table, sql in schema:  # tables first, then the indexes kept during a bulk load
        if kind == "table" and table in INGEST_TABLES:
            db.execute(sql)
    for kind, _name, table, sql in schema:
        if kind == "index" and table in INGEST_TABLES and table not in rebuilt:
            db.execute(sql)
    if layout != "current":
        db.execute(FILE_TEXTS)
    copied = time.perf_counter()
    if layout != "current":
        _file_texts(db)
    for table in tables:
        low, high = db.execute(f"SELECT MIN(rowid), MAX(rowid) FROM src.{table}").fetchone()
        step = ROWS_PER_COMMIT.get(table, OTHER_ROWS_PER_COMMIT)
        for start in range(low or 0, (high or -1) + 1, step):
            db.execute("BEGIN")
            if layout != "current" and table == "parsed_logs":
                _narrow_parsed_logs(db, start, step, layout)
            else:
                db.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE rowid >= ? AND rowid < ?",
                           (start, start + step))
            db.execute("COMMIT")
    indexed = time.perf_counter()
    for kind, name, table, sql in schema:
        if kind == "index" and table in rebuilt and not (layout == "lean" and name == "ix_parsed_logs_request"):
            db.execute(sql)
    closing = time.perf_counter()
    text_bytes = db.execute("SELECT SUM(size_bytes) FROM main.ingested_files").fetchone()[0] or 0
    db.execute("DETACH src")
    sizes = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
    db.close()
    done = time.perf_counter()
    return {"schema": copied - started, "copy": indexed - copied, "indexes": closing - indexed,
            "close": done - closing, "total": done - started, "text_mb": text_bytes / 1e6,
            "db_mb": os.path.getsize(target) / 1e6, "sizes": sizes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("source", help="an ingested SQLite database file (it is only read)")
    ap.add_argument("--target", default=None, help="the copy (default: <source>.floor, removed afterwards)")
    ap.add_argument("--repeat", type=int, default=1, help="copies; the fastest is reported (default 1)")
    ap.add_argument("--layout", choices=LAYOUTS, default="current",
                    help="current: the source's tables as they are; texts, lean: see the module's docstring")
    ap.add_argument("--sizes", action="store_true", help="also print the size of each table and index")
    args = ap.parse_args(argv)
    target = args.target or args.source + ".floor"
    runs = []
    try:
        for _ in range(args.repeat):
            runs.append(copy_once(args.source, target, args.layout))
    finally:
        _remove(target)
    best = min(runs, key=lambda r: r["total"])
    print(f"storage floor of {args.source} ({args.layout} layout): {best['text_mb']:,.0f} MB of log text, "
          f"ingest tables {best['db_mb']:,.1f} MB ({best['db_mb'] / best['text_mb']:.2f}x the text)")
    if args.sizes:
        for name, size in sorted(best["sizes"].items(), key=lambda item: -item[1]):
            if size >= 1e5:
                print(f"    {name:<36} {size / 1e6:10.1f} MB")
    print("  " + "  ".join(f"{k} {best[k]:.2f} s" for k in ("schema", "copy", "indexes", "close", "total")))
    totals = ", ".join(f"{r['total']:.2f}" for r in runs)
    print(f"  -> at most {best['text_mb'] / best['total']:.1f} MB/s for any ingest on this machine "
          f"(best of {len(runs)}: {totals} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
