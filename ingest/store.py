"""Prepared files into the database: in one transaction, or one by one when that fails.

Both loaders use `store()`: the one-process loader (ingest/run.py) for each batch of files, a worker
(ingest/parallel.py) for its group. Files go in whole, with their `ingested_files` row; a file whose
content is stored already (or earlier in the batch) is a twin and is skipped.

When the transaction fails for anything but the database itself (a value PostgreSQL refuses, a bug of
ours), the batch is written again one file per transaction, each file prepared again: the file that
cannot be stored is recorded against itself (`FileOutcome.error`) and every other file goes in. Errors
of the database itself (unreachable, locked, disk full) end the run, as before.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError

from db import schema as s
from errors import BalanceLogsError, first_line
from ingest.loader import BatchWriter, FileOutcome
from ingest.prepare import prepare_source
from ingest.reader import Source

# A batch is written in parts of at most this many events (flushed in the same transaction), so that what
# is held in memory stays bounded however many files a batch has (a worker's group is cut by bytes on disk,
# which say nothing of what a gzip file expands to).
PART_EVENTS = 20_000

Prepared = tuple  # (source, FileRows | None, error | None, decoded size): ingest.prepare.prepare_source


@dataclasses.dataclass
class Written:
    """What became of a batch: each file's outcome, and the per-file counts of BatchWriter.flush."""
    files: list[FileOutcome]
    per_file: dict[int, dict]


def parts(prepared: Iterable[Prepared]) -> Iterable[list[Prepared]]:
    """Consecutive prepared files, in lists of about PART_EVENTS events (one file can be more). When reading
    stops the run (AWS refusing access: a BalanceLogsError), the files prepared before it come out first."""
    part, events = [], 0
    try:
        for item in prepared:
            part.append(item)
            events += item[1].count_events if item[1] is not None else 0
            del item  # (a loop variable would keep the last file alive while the next one is parsed)
            if events >= PART_EVENTS:
                yield part
                part, events = [], 0
    except BalanceLogsError:
        if part:
            yield part
        raise
    if part:
        yield part


def store(engine, run_id: int, sources: list[Source], batch: Iterable[list[Prepared]], job: tuple,
          known: set[str] | None = None) -> Written:
    """Write the parts of a batch (the prepared `sources`, in order) in one transaction. `known`: content hashes
    stored before (None: look them up per part); it is extended with what this batch stored once committed."""
    try:
        with engine.begin() as conn:
            written = _write(conn, run_id, batch, known)
    except (OperationalError, InterfaceError, BalanceLogsError):
        raise  # the database itself, or AWS refusing access: nothing file by file would go better
    except Exception:
        return _one_by_one(engine, run_id, sources, job, known)
    if known is not None:
        known.update(f.hash for f in written.files if f.hash and not f.twin)
    return written


def _write(conn, run_id: int, batch: Iterable[list[Prepared]], known: set[str] | None) -> Written:
    writer = BatchWriter(conn, run_id)
    outcomes, per_file = [], {}
    seen: set[str] = set()  # stored in this batch
    for part in batch:
        hashes = [rows.hash for _, rows, _, _ in part if rows is not None]
        stored = known if known is not None else _stored(conn, hashes)
        for source, rows, error, size in part:
            twin = rows is not None and (rows.hash in stored or rows.hash in seen)
            outcomes.append(FileOutcome.of(source, size, error, rows, twin))
            if rows is None:
                continue
            writer.add_checkpoint(source)
            if twin:
                continue
            seen.add(rows.hash)
            writer.add(source, rows)
        del part, rows  # written: not held while the next part is parsed
        per_file.update(writer.flush())
    return Written(outcomes, per_file)


def _stored(conn, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    column = s.ingested_files.c.content_hash
    return set(conn.execute(select(column).where(column.in_(hashes))).scalars())


def _one_by_one(engine, run_id: int, sources: list[Source], job: tuple, known: set[str] | None) -> Written:
    """The batch again, one file per transaction: the file that cannot be stored costs only itself."""
    written = Written([], {})
    for source in sources:
        item = prepare_source(source, job)
        try:
            with engine.begin() as conn:
                one = _write(conn, run_id, [[item]], known)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            written.files.append(FileOutcome(source, item[3], f"not stored: {_why(exc)}"))
            continue
        if known is not None:
            known.update(f.hash for f in one.files if f.hash and not f.twin)
        written.files.extend(one.files)
        written.per_file.update(one.per_file)
    return written


def _why(exc: Exception) -> str:
    """'StringDataRightTruncation: value too long for type character varying(40)': the driver's own error."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {first_line(orig)}"
