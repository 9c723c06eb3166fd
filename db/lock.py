"""One ingest at a time per database, and one schema upgrade at a time.

SQLite: an exclusive `flock` on a file next to the database. PostgreSQL: a
session advisory lock. A second ingest waits for the first (or, with
wait=False, fails at once with IngestBusy). Both kinds of lock die with the
process that holds them, so a `kill -9` never leaves a stale lock behind:
the flock goes when its last file descriptor closes, the advisory lock when
the server sees the session's socket close. Forked children (ingest's parser
workers) must therefore not keep copies of either: the lock file's
descriptor is closed in every child here, the sockets in db.engine.

`migration_lock` is a second, short lock of the same two kinds: two commands
started at once on a new database would otherwise both create the tables.
"""
from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from db.engine import sqlite_file
from errors import BusyError

ADVISORY_KEY = 0x62616C616E6365  # 'balance'
MIGRATION_ADVISORY_KEY = 0x62616C6D6967  # 'balmig'
POLL_S = 0.2

log = logging.getLogger("balance_logs.lock")

_HELD_FDS: set[int] = set()  # lock files this process holds; closed in forked children


class IngestBusy(BusyError):
    """Another process holds this database's ingest lock."""


def _close_held_in_child() -> None:
    for fd in _HELD_FDS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_FDS.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


@contextlib.contextmanager
def ingest_lock(engine: Engine, wait: bool = True, timeout: float | None = None):
    with _exclusive(engine, ADVISORY_KEY, "ingest.lock", wait, timeout,
                    "another ingest is running on this database"):
        yield


@contextlib.contextmanager
def migration_lock(engine: Engine, timeout: float | None = 600):
    """Held while the schema is upgraded; others wait (briefly: migrations are quick)."""
    with _exclusive(engine, MIGRATION_ADVISORY_KEY, "migrate.lock", True, timeout,
                    "another process is upgrading this database's schema"):
        yield


@contextlib.contextmanager
def _exclusive(engine: Engine, key: int, suffix: str, wait: bool, timeout: float | None, who: str):
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            _pg_acquire(conn, key, wait, timeout, f"{who} (PostgreSQL advisory lock)")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    path = sqlite_file(engine)
    if path is None:  # in-memory SQLite: one process by definition
        yield
        return
    lock_path = f"{path}.{suffix}"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _flock(fd, wait, timeout, f"{who} (lock {lock_path})")
        _HELD_FDS.add(fd)
        yield
    finally:
        _HELD_FDS.discard(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _poll(try_once, wait: bool, timeout: float | None, holder: str) -> None:
    """Call try_once() until it gets the lock; say once that we wait, or raise IngestBusy."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for attempt in itertools.count():
        if try_once():
            return
        if not wait or (deadline is not None and time.monotonic() > deadline):
            raise IngestBusy(f"{holder}; wait for it to finish or run again later")
        if attempt == 0:
            log.warning("%s; waiting for it to finish", holder)
        time.sleep(POLL_S)


def _flock(fd: int, wait: bool, timeout: float | None, holder: str) -> None:
    def try_once() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
    _poll(try_once, wait, timeout, holder)


def _pg_acquire(conn, key: int, wait: bool, timeout: float | None, holder: str) -> None:
    def try_once() -> bool:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()  # never sit idle in a transaction while waiting
        return bool(got)
    _poll(try_once, wait, timeout, holder)
