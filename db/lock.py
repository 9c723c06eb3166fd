"""One ingest at a time per database.

SQLite: an exclusive `flock` on a file next to the database. PostgreSQL: a
session advisory lock. A second ingest waits for the first (or, with
wait=False, fails at once with IngestBusy).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from db.engine import sqlite_file

ADVISORY_KEY = 0x62616C616E6365  # 'balance'


class IngestBusy(RuntimeError):
    pass


@contextlib.contextmanager
def ingest_lock(engine: Engine, wait: bool = True, timeout: float | None = None):
    path = sqlite_file(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            _pg_acquire(conn, wait, timeout)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                conn.commit()
        return
    lock_path = f"{path}.ingest.lock" if path else None
    if lock_path is None:
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _flock(fd, wait, timeout, lock_path)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _flock(fd: int, wait: bool, timeout: float | None, where: str) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not wait or (deadline is not None and time.monotonic() > deadline):
                raise IngestBusy(f"another ingest is running on this database (lock {where}); "
                                 "wait for it to finish or run again later") from None
            time.sleep(0.2)


def _pg_acquire(conn, wait: bool, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar():
        conn.commit()
        if not wait or (deadline is not None and time.monotonic() > deadline):
            raise IngestBusy("another ingest is running on this database (PostgreSQL advisory lock); "
                             "wait for it to finish or run again later")
        time.sleep(0.2)
    conn.commit()
