"""The SQLite build on two cores: a second connection builds the ledger and runs the detectors.

SQLite runs a statement on one core, and a build is one transaction on one connection (readers see the
previous build until it commits). Most of a build is reading and sorting, so a second connection, on a
thread of its own (sqlite3 releases the GIL while a statement runs), takes the steps that write only
intermediate tables, into two scratch files; the build's connection (the main lane) writes the public
tables and reads the scratch files where a step needs them. With the order of steps() (transform/steps.py):

    side lane   ledger phase   ref_currencies, ref_tz_offsets, int_ledger_order, int_ledger   -> ledger file
                side phase     ref_action_checks, int_anomaly_findings (the detectors)        -> findings file
    main lane   (ingest's index rebuild), daily_event_counts, daily_health, daily_flows
                waits for the ledger phase: copies its ref_* tables, balance_events, discrepancy_report
                waits for the side phase: copies ref_action_checks, error_days, anomalies, user_balances

The main connection attaches both files before its transaction and reads their tables by their plain
names (no such table is in the database itself). The rules that keep it right:
- Both lanes read the same ingest tables: the main lane takes the database's write lock before the side
  lane starts, so nothing can change them until the build commits.
- The side lane reads the database through a read-only attachment and an authorizer that lets it read the
  ingest tables only: a side step that read a derived table would silently get the previous build's.
- The scratch files have no journal and normal (rollback) locking: the main lane reads a file only once
  the phase that writes it has committed. Were it to read one earlier, its lock would make the side
  lane's commit fail with "database is locked" instead of yielding half a table.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from db import schema as s
from db import sqlite_pragmas
from db.engine import sqlite_file
from transform.params import Params
from transform.state import forget_state
from transform.steps import INTERMEDIATE_TABLES, Step, finish, index_statements, recreate, run_step, steps
from transform.tables import BY_NAME, scratch_metadata

LEDGER, FINDINGS, SOURCE = "build_ledger", "build_findings", "build_source"  # schema names
PHASES = {"ledger": LEDGER, "side": FINDINGS}  # which scratch file each phase of the side lane writes
INGEST_TABLES = frozenset(t.name for t in s.INGEST_TABLES)
_SIDE_TABLES = frozenset(step.table for step in steps() if step.lane != "main")
SCRATCH_PREFIX = "balance-logs-build-"  # + the build's process id: a temporary folder per build


def remove_stale_scratch() -> None:
    """Scratch folders left by a build whose process was killed (a normal end or a failure removes its own):
    the folder names the process, which no longer exists."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive, or not ours to judge
            pass


def schedule(steps: list[Step]) -> list[tuple[Step, str | None]]:
    """The main lane's steps, each with the side-lane phase it must wait for first (or None).

    A main step waits for a phase when it comes after the phase's last step; one that came between its
    steps could not be run (it might read a table the phase has not made yet), so that is refused."""
    index = {lane: [i for i, step in enumerate(steps) if step.lane == lane] for lane in PHASES}
    out = []
    for i, step in enumerate(steps):
        if step.lane != "main":
            continue
        for lane, where in index.items():
            if where[0] < i < where[-1]:
                raise ValueError(f"step {step.name!r} comes between the steps of the {lane} phase")
        after = [lane for lane, where in index.items() if i > where[-1]]
        out.append((step, after[-1] if after else None))
    return out


def build_on_two_lanes(engine: Engine, params: Params, on_step, alongside) -> dict:
    database = sqlite_file(engine)
    remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    files = {LEDGER: scratch / "ledger.db", FINDINGS: scratch / "findings.db"}
    try:
        with engine.connect() as conn:
            try:
                for name, path in files.items():  # (not possible inside a transaction)
                    conn.exec_driver_sql(f"ATTACH DATABASE ? AS {name}", (str(path),))
                    # (the findings file is small: SQLite's default page cache)
                    sqlite_pragmas.scratch_file(conn, name, sqlite_pragmas.SCRATCH_CACHE_KB if name == LEDGER else None)
                conn.commit()
                result = _main_lane(conn, database, files, params, on_step, alongside)
                for name in files:
                    conn.exec_driver_sql(f"DETACH DATABASE {name}")
                conn.commit()
                return result
            except BaseException:
                conn.invalidate()  # closed, not pooled: it may still have the scratch files attached
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _main_lane(conn: Connection, database: str, files: dict, params: Params, on_step, alongside) -> dict:
    bind = params.bind()
    conn.exec_driver_sql("BEGIN")  # one transaction for the whole build (see runner._build_on_one_lane)
    try:
        with sqlite_pragmas.build_settings(conn):
            # A first write takes the database's write lock, before the side lane reads anything: no other
            # connection can change the ingest tables until this build commits, so both lanes read the same.
            # (BEGIN IMMEDIATE would also lock the scratch files the side lane is about to write.)
            forget_state(conn)
            side = SideLane(database, files, params, bind)
            side.start()
            try:
                if alongside:
                    alongside(conn)
                for step, after in schedule(steps()):
                    if after:
                        _collect(conn, side, after, on_step)
                    t0 = time.perf_counter()
                    run_step(conn, step, params, bind)
                    if on_step:
                        on_step(step, time.perf_counter() - t0)
                _collect(conn, side, list(PHASES)[-1], on_step)  # (already done unless no main step came after)
            except BaseException:
                side.stop()
                raise
            finally:
                side.join()
            result = finish(conn, params)
        conn.commit()
        return result
    except BaseException:
        conn.rollback()
        raise


def _collect(conn: Connection, side: SideLane, phase: str, on_step) -> None:
    """Wait for a phase of the side lane (and the phases before it), report its steps and copy the public
    tables it built; once per phase."""
    for earlier in PHASES:
        if earlier == phase:
            break
        _collect(conn, side, earlier, on_step)
    if phase in side.collected:
        return
    side.wait(phase)
    side.collected.add(phase)
    for step, seconds in side.timings[phase]:
        if on_step:
            on_step(step, seconds)
        if step.table not in INTERMEDIATE_TABLES:  # a public table (ref_*, daily_flows): copied whole
            recreate(conn, step.table)
            conn.execute(text(f"INSERT INTO main.{step.table} SELECT * FROM {PHASES[phase]}.{step.table}"))
            for stmt in index_statements(step):
                conn.execute(stmt.executable(), stmt.params)


class SideLane(threading.Thread):
    """The second connection: the steps of the ledger phase, then of the side phase, each committed whole."""

    def __init__(self, database: str, files: dict, params: Params, bind: dict):
        super().__init__(name="transform-side-lane", daemon=True)
        self.database, self.files, self.params, self.bind = database, files, params, bind
        self.ready = {phase: threading.Event() for phase in PHASES}
        self.timings: dict[str, list] = {phase: [] for phase in PHASES}
        self.collected: set[str] = set()  # phases the main lane has taken in (its own bookkeeping)
        self.error: BaseException | None = None
        self._dbapi: sqlite3.Connection | None = None
        self._stopping = False

    def run(self) -> None:
        engine = create_engine("sqlite://", creator=self._connect, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                for phase, schema in PHASES.items():
                    for step in (step for step in steps() if step.lane == phase):
                        if self._stopping:
                            raise RuntimeError("the build stopped")
                        t0 = time.perf_counter()
                        run_step(conn, step, self.params, self.bind, create=_creator(schema),
                                 indexes=step.table in INTERMEDIATE_TABLES)
                        self.timings[phase].append((step, time.perf_counter() - t0))
                    conn.commit()
                    self.ready[phase].set()
        except BaseException as exc:  # handed to the main lane, which raises it
            self.error = exc
        finally:
            for event in self.ready.values():
                event.set()
            engine.dispose()

    def wait(self, phase: str) -> None:
        self.ready[phase].wait()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Make the running statement fail at once (the main lane failed or was interrupted)."""
        self._stopping = True
        if self._dbapi is not None:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed: the lane has finished already
                self._dbapi.interrupt()

    def _connect(self) -> sqlite3.Connection:
        # (URI filenames on: the read-only attachment below is one)
        dbapi = sqlite3.connect(f"file:{quote(str(self.files[LEDGER]))}", uri=True, check_same_thread=False)
        sqlite_pragmas.side_lane(dbapi)
        dbapi.execute(f"ATTACH DATABASE ? AS {FINDINGS}", (str(self.files[FINDINGS]),))
        sqlite_pragmas.scratch_file(dbapi, FINDINGS)
        # attached last: plain names find the scratch tables first
        dbapi.execute(f"ATTACH DATABASE ? AS {SOURCE}", (f"file:{quote(str(self.database))}?mode=ro",))
        dbapi.set_authorizer(_ingest_tables_only)
        self._dbapi = dbapi
        return dbapi


def _ingest_tables_only(action: int, table: str | None, _column, database: str | None, _trigger) -> int:
    if action != sqlite3.SQLITE_READ:
        return sqlite3.SQLITE_OK
    if database == SOURCE:  # a derived table of the database is the previous build's
        allowed = table in INGEST_TABLES
    elif database is None:  # SQLite names no database for count(*): judge by the name
        allowed = table in INGEST_TABLES or table in _SIDE_TABLES
    else:  # the scratch files
        allowed = True
    return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY


def _creator(schema: str) -> Callable[[Connection, str], None]:
    """`create` for run_step on the side lane: the step's table, new, in the phase's scratch file."""
    def create(conn: Connection, name: str) -> None:
        table = scratch_metadata.tables.get(name, BY_NAME[name])
        table.to_metadata(MetaData(), schema=None if schema == LEDGER else schema).create(conn)
    return create
