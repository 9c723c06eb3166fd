"""The one door to the database: engines, connections and schema upgrades.

Ingest is the only writer and commits in explicit transactions; everything
else reads. SQLite runs in WAL mode with a busy timeout so the dashboard keeps
reading while an ingest writes.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from settings import ROOT

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseError(RuntimeError):
    """The database cannot be opened or upgraded; the message says why and what to do."""


def _sqlite_path(url) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return path if path.is_absolute() else ROOT / path


def make_engine(database_url: str, *, readonly: bool = False) -> Engine:
    """An engine for the URL; relative SQLite paths are relative to the project root."""
    url = make_url(database_url)
    path = _sqlite_path(url)
    if path is not None:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        url = url.set(database=str(path))
    engine = create_engine(url, future=True, pool_pre_ping=url.get_backend_name() != "sqlite")
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Leave transaction control to SQLAlchemy's explicit begin/commit.
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def sqlite_file(engine: Engine) -> Path | None:
    return _sqlite_path(engine.url)
