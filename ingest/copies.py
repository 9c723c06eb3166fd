"""A transaction logged more than once: which copy is applied, and what the other copies record.

SQS delivers a message again now and then, so one transaction id can be logged in several streams, sometimes
with different content. The applied copy (the `balance_events` row) is the one logged first: the earliest event
time, then the file whose path (then zip member) sorts first, then the lower line. Every other copy is a
`transaction_conflicts` row, `duplicate` when its identity fields equal the applied copy's, else `conflict`
with the differing fields as JSON: {"field": {"first": <applied copy's>, "again": <this copy's>}}.

The choice depends only on the copies, never on the order files are read in or how they are split between
runs: when a later run brings an earlier copy, that copy takes the stored one's place, the stored one becomes a
conflict row, and the other stored copies are compared again with the new applied one (each is the old applied
copy's identity fields with its recorded differences on top).
"""
from __future__ import annotations

import dataclasses
import json
from collections import Counter

from sqlalchemy import select
from sqlalchemy.engine import Connection

from db import schema as s

# Fields compared when a transaction id is seen again: equal -> duplicate, different -> conflict.
IDENTITY_FIELDS = ("user_id", "currency", "type", "source", "action", "amount_text", "vat_text",
                   "old_balance_text", "new_balance_text", "payment_balance_text", "metadata")
_IN_BATCH = 500  # ids per IN (...) list


@dataclasses.dataclass
class Plan:
    """What one batch of transaction rows does to the stored ones."""
    applied: list[dict] = dataclasses.field(default_factory=list)  # balance_events rows to insert
    replaced: set[str] = dataclasses.field(default_factory=set)  # ids whose stored row and conflicts go
    conflicts: list[dict] = dataclasses.field(default_factory=list)  # transaction_conflicts rows to insert
    again: list[tuple[int, str]] = dataclasses.field(default_factory=list)  # (file_id, kind) per copy seen again
    lost: Counter = dataclasses.field(default_factory=Counter)  # stored file_id -> applied copies it gave up


def order_key(ts: str, path: str, member: str | None, line_no: int) -> tuple:
    """Which copy was logged first: `ts` is ISO-8601 UTC with milliseconds, so text order is time order."""
    return ts, path, member or "", line_no


def differences(applied: dict, copy: dict) -> dict:
    return {f: {"first": applied.get(f), "again": copy.get(f)} for f in IDENTITY_FIELDS
            if applied.get(f) != copy.get(f)}


def conflict_row(copy: dict, applied: dict) -> dict:
    """The transaction_conflicts row of `copy` (a row with the identity fields and where it was logged)."""
    differs = differences(applied, copy)
    return {"transaction_id": copy["transaction_id"], "kind": "conflict" if differs else "duplicate",
            "event_id": copy["event_id"], "file_id": copy["file_id"], "line_no": copy["line_no"], "ts": copy["ts"],
            "detail": json.dumps(differs, ensure_ascii=False) if differs else None}


def plan(conn: Connection, rows: list[dict], files: dict[int, tuple[str, str | None]]) -> Plan:
    """Decide, for a batch of parsed transaction rows, which copy of each id is applied.

    `files` maps each row's file_id to its (path, member). Stored copies are read from the database; the
    caller writes the plan (ingest.loader.BatchWriter.flush).
    """
    copies: dict[str, list[dict]] = {}
    for row in rows:
        copies.setdefault(row["transaction_id"], []).append(row)

    def key(row: dict) -> tuple:
        return order_key(row["ts"], *files[row["file_id"]], row["line_no"])

    stored = _stored(conn, list(copies))
    result = Plan()
    for transaction_id, batch in copies.items():
        batch.sort(key=key)
        first, before = batch[0], stored.get(transaction_id)
        if before is not None and key(first) >= before["key"]:
            applied, others = before, batch  # the stored copy was logged first: it stays
        else:
            applied, others = first, batch[1:]
            result.applied.append(first)
            if before is not None:  # this batch brings a copy logged before the stored one
                result.replaced.add(transaction_id)
                result.lost[before["file_id"]] += 1
                result.again.append((first["file_id"], conflict_row(first, before)["kind"]))
                result.conflicts += [conflict_row(old, first) for old in _stored_copies(conn, before)]
        for copy in others:
            row = conflict_row(copy, applied)
            result.conflicts.append(row)
            result.again.append((copy["file_id"], row["kind"]))
    result.applied.sort(key=lambda row: row["event_id"])  # stored in event order, as one file's rows come
    return result


def _stored(conn: Connection, ids: list[str]) -> dict[str, dict]:
    """The applied copy of each id already stored: identity fields, where it was logged, its order key."""
    b, f = s.balance_events.c, s.ingested_files.c
    cols = [b.transaction_id, b.event_id, b.file_id, b.line_no, b.ts, f.path, f.member,
            *(b[name] for name in IDENTITY_FIELDS)]
    found = {}
    for start in range(0, len(ids), _IN_BATCH):
        query = (select(*cols).select_from(s.balance_events.join(s.ingested_files, b.file_id == f.file_id))
                 .where(b.transaction_id.in_(ids[start:start + _IN_BATCH])))
        for rec in conn.execute(query).mappings():
            row = dict(rec)
            row["key"] = order_key(row["ts"], row.pop("path"), row.pop("member"), row["line_no"])
            found[row["transaction_id"]] = row
    return found


def _stored_copies(conn: Connection, before: dict) -> list[dict]:
    """Every stored copy of `before`'s transaction: the applied one and those in transaction_conflicts, each
    with its identity fields (the applied copy's, with the recorded differences on top)."""
    c = s.transaction_conflicts.c
    query = (select(c.event_id, c.file_id, c.line_no, c.ts, c.detail)
             .where(c.transaction_id == before["transaction_id"]).order_by(c.conflict_id))
    out = [before]
    for rec in conn.execute(query).mappings():
        copy = {**{name: before[name] for name in IDENTITY_FIELDS}, "transaction_id": before["transaction_id"],
                **{k: rec[k] for k in ("event_id", "file_id", "line_no", "ts")}}
        for name, pair in json.loads(rec["detail"] or "{}").items():
            copy[name] = pair["again"]
        out.append(copy)
    return out
