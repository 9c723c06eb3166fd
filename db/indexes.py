"""Secondary indexes of the ingest tables, dropped for bulk loads and always restored.

Maintaining seven secondary indexes row by row costs more than twice the
inserts themselves; building them once after a large load is far cheaper.
`ensure()` runs at the start of every ingest, so an ingest killed mid-load
(indexes dropped) is repaired by the next one.
"""
from __future__ import annotations

from sqlalchemy.engine import Engine

from db import schema as s

BULK_TABLES = (s.parsed_logs, s.balance_events)


def _indexes():
    for table in BULK_TABLES:
        yield from sorted(table.indexes, key=lambda ix: ix.name)


def ensure(engine: Engine) -> None:
    with engine.begin() as conn:
        for index in _indexes():
            index.create(conn, checkfirst=True)


def drop(engine: Engine) -> None:
    with engine.begin() as conn:
        for index in _indexes():
            index.drop(conn, checkfirst=True)
