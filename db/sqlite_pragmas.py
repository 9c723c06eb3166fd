"""Every SQLite PRAGMA the project sets, one function per purpose; the rest of the code calls these.

Functions named `…(dbapi_conn, _record)` are SQLAlchemy "connect" listeners (they get the driver's
connection); the others take a SQLAlchemy Connection, or either kind where both occur. On other
databases nothing here is called, except `build_settings`, which does nothing there. Measurements
behind the sizes are in docs/benchmarks.md ("SQLite settings").
"""
from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

BUSY_TIMEOUT_MS = 30_000
INGEST_CACHE_KB = 32 * 1024  # with the workers, the run stays under its 300 MB budget
INGEST_CHECKPOINT_PAGES = 16_384  # of 4 KB: 64 MB
BUILD_CACHE_KB = 32 * 1024
BUILD_TEMP_CACHE_KB = 16 * 1024
SCRATCH_CACHE_KB = 16 * 1024  # a scratch file holds what a one-lane build keeps in its temp file


def _execute(conn, sql: str):
    """A statement on a SQLAlchemy Connection or on a driver connection or cursor."""
    run = getattr(conn, "exec_driver_sql", None) or conn.execute
    return run(sql)


def connection_defaults(dbapi_conn, _record=None) -> None:
    """Every connection of make_engine (transactions stay with SQLAlchemy's explicit begin/commit)."""
    cur = dbapi_conn.cursor()
    # a writer holding the database makes others wait for it rather than fail at once
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    write_ahead_log(cur)
    # the schema's foreign keys are checked, which SQLite does not do by default
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def write_ahead_log(cur) -> None:
    """WAL, so the dashboard keeps reading while an ingest writes, and the commits that go with it.

    The mode is switched once per database file (it is persistent). Changing it needs the file to itself
    and SQLite answers 'database is locked' at once, without using the busy timeout, when another process
    has it open: two commands started together on a new database hit that. So: only switch when the mode
    isn't WAL yet, and retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    # in WAL a commit then survives a crash of the process, only a power cut may lose the last ones
    cur.execute("PRAGMA synchronous = NORMAL")


def ingest_writer(dbapi_conn, _record=None) -> None:
    """The ingest's writing connections (its own and its workers')."""
    # the default 2 MB page cache sends every insert into the text-keyed tables and every index rebuild to disk
    dbapi_conn.execute(f"PRAGMA cache_size = -{INGEST_CACHE_KB}")
    # a page rewritten by consecutive commits (a table's growing end) is copied into the database once, not each time
    dbapi_conn.execute(f"PRAGMA wal_autocheckpoint = {INGEST_CHECKPOINT_PAGES}")


def checkpoint_passive(conn) -> None:
    """Copy the WAL into the database now, waiting for no one.

    The ingest process calls it after each group its workers wrote: otherwise whoever commits past the
    checkpoint size copies it (a worker in its turn while the others wait, or the build after the load)."""
    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


@contextlib.contextmanager
def build_settings(conn) -> Iterator[None]:
    """A transform build's page caches and delete mode on SQLite (nothing elsewhere), restored afterwards:
    the pooled connection is reused."""
    if conn.dialect.name != "sqlite":
        yield
        return
    cache_size = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    # sorts for the window functions spill to temporary files beyond it, which bounds a large build's memory
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BUILD_CACHE_KB}")
    # sorts and the TEMPORARY intermediate tables use the temp file, whose own cache is 2 MB by default
    conn.exec_driver_sql(f"PRAGMA temp.cache_size = -{BUILD_TEMP_CACHE_KB}")
    # this SQLite zeroes every page a DROP frees (SECURE_DELETE); the dropped tables are derived from rows that stay
    secure_delete = conn.exec_driver_sql("PRAGMA secure_delete").scalar_one()
    conn.exec_driver_sql("PRAGMA secure_delete = FAST")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {int(secure_delete)}")
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache_size)}")


def scratch_file(conn, schema: str | None = None, cache_kb: int | None = None) -> None:
    """A build's scratch file (transform/lanes.py), attached as `schema` or the connection's own database
    (None); `cache_kb`: its page cache."""
    prefix = f"{schema}." if schema else ""
    # a failed build throws the file away: no journal to write
    _execute(conn, f"PRAGMA {prefix}journal_mode = OFF")
    if cache_kb:
        _execute(conn, f"PRAGMA {prefix}cache_size = -{cache_kb}")


def side_lane(dbapi_conn) -> None:
    """The two-lane build's second connection, whose own database is the ledger scratch file."""
    scratch_file(dbapi_conn, cache_kb=SCRATCH_CACHE_KB)
    # its sorts use its own temp file, sized as a one-lane build's (build_settings)
    dbapi_conn.execute(f"PRAGMA temp.cache_size = -{BUILD_TEMP_CACHE_KB}")
