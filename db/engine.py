"""The one door to the database: engines, connections and schema upgrades.

Ingest and transforms write the log data and commit in explicit transactions; the
dashboard writes only its reviews (queries/reviews.py), alerts their alert_state; everything else reads.
SQLite runs in WAL mode with a busy timeout (db/sqlite_pragmas.py) so the dashboard keeps
reading while an ingest writes; PostgreSQL gives every reader a consistent
snapshot anyway.

Engines are fork-safe: a child process (ingest's parser workers, gunicorn
workers forked after the app was built) starts with an empty pool and closes
its copies of the parent's PostgreSQL sockets. Without that, workers orphaned
by a `kill -9` of the ingest kept its connections open, so the server never
saw it die: its advisory lock and its open transaction stayed held and every
later ingest waited forever.
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from db import sqlite_pragmas
from settings import ROOT, read_database_url

PG_APPLICATION_NAME = "balance-logs"  # what pg_stat_activity shows for our sessions
PG_READONLY_STATEMENT_TIMEOUT_MS = 120_000  # a runaway dashboard query is cancelled, not left running

_ENGINES: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_PG_CONNECTIONS: weakref.WeakSet = weakref.WeakSet()  # psycopg connections opened in this process


def _sqlite_path(url) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return path if path.is_absolute() else ROOT / path


def make_engine(database_url: str, *, readonly: bool = False) -> Engine:
    """An engine for the URL; relative SQLite paths are relative to the project root. A URL that cannot be read
    safely is a SettingsError that does not quote it (settings.read_database_url)."""
    url = read_database_url(database_url)
    path = _sqlite_path(url)
    if path is not None:
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        url = url.set(database=str(path))
    connect_args = {}
    if url.get_backend_name() == "postgresql":
        connect_args = {"application_name": PG_APPLICATION_NAME}
        if readonly:
            connect_args["options"] = f"-c statement_timeout={PG_READONLY_STATEMENT_TIMEOUT_MS}"
    engine = create_engine(url, future=True, pool_pre_ping=url.get_backend_name() != "sqlite",
                           connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_pragmas.connection_defaults)
    else:
        event.listen(engine, "connect", lambda dbapi_conn, _record: _PG_CONNECTIONS.add(dbapi_conn))
    _ENGINES.add(engine)
    return engine


def _forget_parent_connections() -> None:
    """In a freshly forked child: never touch the parent's connections, and don't keep them alive."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)  # the child opens its own connections if it needs any
    for conn in list(_PG_CONNECTIONS):
        try:
            # Close only our copy of the socket: the parent's session goes on, and ends when the
            # parent does. psycopg never sends Terminate from a process other than its creator.
            os.close(conn.pgconn.socket)
        except Exception:  # already closed or never connected: nothing of ours to drop
            pass
    _PG_CONNECTIONS.clear()


os.register_at_fork(after_in_child=_forget_parent_connections)


def sqlite_file(engine: Engine) -> Path | None:
    return _sqlite_path(engine.url)
