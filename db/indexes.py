"""Secondary indexes of the ingest tables, dropped for bulk loads and always restored.

Maintaining the secondary indexes row by row cost more than twice the
inserts themselves (measured with seven; six since migration 0005);
building them once after a large load is far cheaper. `ensure()` runs at
the start of every ingest, so an ingest killed mid-load (indexes dropped)
is repaired by the next one.
"""
from __future__ import annotations

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateIndex, DropIndex

from db import schema as s

BULK_TABLES = (s.parsed_logs, s.balance_events)


def _indexes():
    for table in BULK_TABLES:
        yield from sorted(table.indexes, key=lambda ix: ix.name)


# IF [NOT] EXISTS (SQLite and PostgreSQL) rather than checkfirst: no reflection of the tables on every run.
def ensure(engine: Engine) -> None:
    with engine.begin() as conn:
        create_missing(conn)


def create_missing(conn: Connection) -> None:
    """In the caller's transaction (ingest hands it to the transforms' build, which runs it beside the ledger)."""
    for index in _indexes():
        conn.execute(CreateIndex(index, if_not_exists=True))


def drop(engine: Engine) -> None:
    with engine.begin() as conn:
        for index in _indexes():
            conn.execute(DropIndex(index, if_exists=True))
