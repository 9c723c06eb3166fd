"""Parallel ingest into SQLite: workers load groups of files into shard files, merged in input order.

Why not hand the parsed rows back to the writer? On 2 cores that costs as much as parsing them
(pickling millions of small objects). Here each worker parses a group of consecutive files and
writes it with the ordinary BatchWriter into a throwaway SQLite file of the same tables; the ingest
process attaches that file and copies it in with INSERT … SELECT, which runs inside SQLite without a
Python object per row. Groups are merged in input order, one transaction each, so every file is
whole or absent and the ids are those a one-process run gives.

What a group cannot know is settled at the merge, in SQL and on the rare rows concerned:
- transaction ids already stored become duplicate/conflict rows exactly as in one process;
- invocations are upserted (a request can span files);
- a file whose content is already stored (a twin that arrived in another group) makes the merge
  give the group up and ingest its files the one-process way, so twins never depend on grouping.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.schema import CreateTable

from db import schema as s
from ingest.loader import IDENTITY_FIELDS, BatchWriter, FileOutcome, split_transactions
from ingest.pipeline import die_with_parent, in_order, prepare_source
from ingest.reader import Source

# A group is consecutive files up to this many bytes on disk (about 1 MB of text): small enough that
# both cores stay busy to the end and a worker's memory stays flat, large enough that the per-group
# cost (a file, its tables, one merge) stays under 2% of the work.
GROUP_BYTES = 256 << 10
GROUP_MAX_FILES = 100
FLUSH_EVERY_EVENTS = 20_000  # a worker writes its rows to the shard file this often (bounded memory)

# Tables copied from a shard, parents first (foreign keys are on in the main database).
SHARD_TABLES = (s.ingested_files, s.parsed_logs, s.file_event_counts, s.unknown, s.quarantine, s.balance_events,
                s.transaction_conflicts, s.not_in_sync_events, s.negative_balance_guards, s.invocations)
_OWN_IDS = {"quarantine_id", "conflict_id"}  # the main database numbers these itself


@dataclasses.dataclass
class Shard:
    path: str
    files: list[FileOutcome]
    sources: list[Source]


def groups(sources: list[Source]) -> list[list[Source]]:
    out, current, size = [], [], 0
    for source in sources:
        current.append(source)
        size += source.file_size or 0
        if size >= GROUP_BYTES or len(current) >= GROUP_MAX_FILES:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


# --- in the worker --------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(known_hashes: frozenset, job: tuple[str, str], directory: str) -> None:
    die_with_parent()
    _WORKER.update(hashes=known_hashes, job=job, directory=directory)


def _shard_engine(path: str):
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # a scratch file: nothing to protect from a crash
        dbapi_conn.execute("PRAGMA journal_mode = OFF")
        dbapi_conn.execute("PRAGMA synchronous = OFF")
    return engine


def build_shard(index: int, sources: list[Source]) -> Shard:
    """Parse and write one group of files into a new shard file; return what happened to each file."""
    path = os.path.join(_WORKER["directory"], f"shard-{index:06d}.db")
    engine = _shard_engine(path)
    outcomes, seen = [], set()
    try:
        with engine.begin() as conn:
            for table in SHARD_TABLES:  # the tables only: secondary indexes would only slow the inserts
                conn.execute(CreateTable(table))
            writer = BatchWriter(conn, run_id=0)
            for source in sources:
                source, rows, error, size = prepare_source(source, _WORKER["job"])
                twin = rows is not None and (rows.hash in _WORKER["hashes"] or rows.hash in seen)
                outcomes.append(FileOutcome.of(source, size, error, rows, twin))
                if rows is None or twin:
                    continue
                seen.add(rows.hash)
                writer.add(source, rows)
                if writer.events >= FLUSH_EVERY_EVENTS:
                    writer.flush()
            writer.flush()
    finally:
        engine.dispose()
    return Shard(path, outcomes, sources)


# --- in the ingest process ------------------------------------------------------------------------

def scratch_directory(database: Path) -> Path:
    """A new folder in `<database>.shards/`, beside the database. The caller holds the ingest lock, so
    whatever else is in there was left by an ingest that was killed: it is removed. Each run has a
    folder of its own, so a worker orphaned by that kill can never write into this run's files."""
    parent = database.with_name(database.name + ".shards")
    shutil.rmtree(parent, ignore_errors=True)
    parent.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=parent))


def shards(sources: list[Source], known_hashes: set[str], job: tuple[str, str], workers: int, database: Path):
    """Yield Shards in input order, built by `workers` processes, at most a few groups ahead."""
    directory = str(scratch_directory(database))
    try:
        for shard in in_order(workers, build_shard, list(enumerate(groups(sources))), _init_worker,
                              (frozenset(known_hashes), job, directory)):
            try:
                yield shard
            finally:
                os.remove(shard.path)
    finally:
        shutil.rmtree(Path(directory).parent, ignore_errors=True)


# A seek in the stored table's primary key per shard row. (`IN (SELECT …)` made SQLite copy every
# stored id into a temporary index for each group: quadratic in the size of the database.)
_STORED = "EXISTS (SELECT 1 FROM main.balance_events m WHERE m.transaction_id = {0}.transaction_id)"


def _select_list(table, offsets: dict[str, str]) -> tuple[str, str]:
    columns = [c.name for c in table.columns if c.name not in _OWN_IDS]
    exprs = [offsets.get(c, c) for c in columns]
    return ", ".join(columns), ", ".join(exprs)


def merge(conn, shard: Shard, run_id: int, stored_hashes: set[str]) -> dict | None:
    """Copy one shard into the main database (the caller commits). None: the shard holds a file
    already stored (its twin came in an earlier group); nothing was written, ingest it the one-process way.
    Otherwise the counts of new transactions, duplicates and conflicts."""
    hashes = [f.hash for f in shard.files if f.hash and not f.twin]  # the files the shard holds
    if any(h in stored_hashes for h in hashes) or conn.exec_driver_sql(
            "SELECT 1 FROM shard.transaction_conflicts c WHERE " + _STORED.format("c") + " LIMIT 1").first():
        # A twin of a stored file, or a transaction logged a third time whose second copy the worker
        # compared with the first it saw rather than the stored one: settle it the one-process way.
        return None
    file_base = conn.exec_driver_sql("SELECT coalesce(max(file_id), 0) FROM main.ingested_files").scalar()
    event_base = conn.exec_driver_sql("SELECT coalesce(max(event_id), 0) FROM main.parsed_logs").scalar()
    offsets = {"file_id": f"file_id + {int(file_base)}", "event_id": f"event_id + {int(event_base)}",
               "run_id": str(int(run_id))}
    again = _stored_again(conn, file_base, event_base)
    for table in SHARD_TABLES:
        columns, exprs = _select_list(table, offsets)
        sql = f"INSERT INTO main.{table.name} ({columns}) SELECT {exprs} FROM shard.{table.name}"
        if table is s.balance_events and again:
            sql += " AS b WHERE NOT " + _STORED.format("b")
        if table is s.invocations:  # a request seen in an earlier file: fill what is still unknown
            fill = ", ".join(f"{c.name} = coalesce(invocations.{c.name}, excluded.{c.name})"
                             for c in table.columns if c.name != "request_id")
            sql += f" WHERE true ON CONFLICT (request_id) DO UPDATE SET {fill}"
        conn.exec_driver_sql(sql)
    counts = dict(conn.exec_driver_sql(
        "SELECT kind, count(*) FROM shard.transaction_conflicts GROUP BY kind").fetchall())
    counts["new"] = conn.exec_driver_sql("SELECT count(*) FROM shard.balance_events").scalar() - len(again)
    if again:
        _record_stored_again(conn, again, counts)
    stored_hashes.update(hashes)
    return counts


def _stored_again(conn, file_base: int, event_base: int) -> list[dict]:
    """Shard transactions whose id is stored already, with main-database ids, in file order."""
    names = ["transaction_id", "event_id", "file_id", "line_no", "ts", *IDENTITY_FIELDS]
    rows = conn.exec_driver_sql(
        f"SELECT {', '.join('b.' + n for n in names)} FROM shard.balance_events b "
        "WHERE " + _STORED.format("b") + " ORDER BY b.event_id")
    out = []
    for rec in rows:
        row = dict(zip(names, rec))
        row["event_id"] += event_base
        row["file_id"] += file_base
        out.append(row)
    return out


def _record_stored_again(conn, again: list[dict], counts: dict) -> None:
    new, conflicts = split_transactions(conn, again)
    assert not new, "every id in `again` is stored"
    conn.execute(s.transaction_conflicts.insert(), conflicts)
    lost = Counter(row["file_id"] for row in again)
    for row in conflicts:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    for file_id, n in lost.items():
        conn.execute(text("UPDATE ingested_files SET count_transactions = count_transactions - :n "
                          "WHERE file_id = :f"), {"n": n, "f": file_id})
