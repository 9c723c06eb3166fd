"""Run a build: every step of transform/steps.py, in one transaction.

`build_all()` runs them all in one transaction, so readers see the previous
build until the new one is complete: a full build on one connection here, or
on a SQLite file on two (transform/lanes.py); an incremental build, of the
users and days changed since the last one (transform/scope.py), on one.
`dry_run_text()` is what `python -m transform --dry-run` prints.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from db import sqlite_pragmas
from db.engine import sqlite_file
from settings import Settings
from transform import scope
from transform.lanes import build_on_two_lanes, schedule
from transform.params import Params, from_settings
from transform.steps import INTERMEDIATE_TABLES, Step, finish, plan, run_step, steps


def build_all(engine: Engine, settings: Settings, on_step: Callable[[Step, float], None] | None = None, *,
              alongside: Callable[[Connection], None] | None = None, lanes: int | None = None,
              mode: str = "auto") -> dict:
    """Bring every derived table up to date with the ingest tables; returns row counts per table, 'build'
    (full or incremental, and why) and 'seconds'.

    Incremental when the last build was made by this code with these settings (transform/scope.py); `mode`
    "full" or "incremental" asks for one (scope.decide). One transaction: readers see the previous build until
    the new one is complete. `alongside(conn)` runs in it before the first step (ingest rebuilds its indexes there: on SQLite while the other lane builds
    the ledger). `lanes`: on a SQLite file a full build shares the work between two connections
    (transform/lanes.py) unless it is 1; PostgreSQL and incremental builds run every step on one.
    `on_step(step, seconds)` is called on this thread for every step."""
    params = from_settings(settings)
    started = time.perf_counter()
    with engine.connect() as conn:  # a first look: a full build on two lanes needs no other
        decision = scope.decide(conn, params, mode)
    if not decision.incremental and lanes != 1 and sqlite_file(engine) is not None:
        result = build_on_two_lanes(engine, params, on_step, alongside)
    else:
        result, decision = _build_on_one_lane(engine, params, on_step, alongside, mode)
    result["build"] = f"{'incremental' if decision.incremental else 'full'} ({decision.reason})"
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _build_on_one_lane(engine: Engine, params: Params, on_step, alongside, mode: str) -> tuple[dict, scope.Decision]:
    bind = params.bind()
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # The driver opens a transaction only at the first INSERT/UPDATE/DELETE, so the build's first
            # DROP/CREATE statements would each commit on their own and a dashboard could see a derived
            # table missing or empty. An explicit BEGIN makes the whole build one transaction; IMMEDIATE takes
            # the write lock at once, so nothing changes the ingest tables between the decision and the build.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        decision = scope.decide(conn, params, mode)  # again, in the build's transaction
        with sqlite_pragmas.build_settings(conn):
            if alongside:
                alongside(conn)
            scoped = scope.open_scope(conn, params) if decision.incremental else ""
            for step in steps():
                t0 = time.perf_counter()
                run_step(conn, step, params, bind, scoped=scoped)
                if on_step:
                    on_step(step, time.perf_counter() - t0)
            for table in INTERMEDIATE_TABLES:
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            scope.close_scope(conn)
        return finish(conn, params), decision


def dry_run_text(dialect: str, settings: Settings) -> Iterator[str]:
    """The statements in order, as `python -m transform --dry-run` prints them."""
    params = from_settings(settings)
    lanes = _lane_notes() if dialect == "sqlite" else {}
    if lanes:
        yield ("-- On a SQLite file two connections share these steps (transform/lanes.py): the side lane builds "
               "its tables in scratch files, the main lane writes the database.")
    for number, (step, stmts) in enumerate(plan(dialect, params), start=1):
        yield f"-- step {number}: {step.describe()}" + (f"  [{lanes[step.name]}]" if lanes else "")
        if step.kind in ("seed", "rebuild", "rebuild-empty"):
            yield f"DROP TABLE IF EXISTS {step.table};  -- then CREATE TABLE {step.table} as in transform/tables.py"
        if step.func is not None:
            doc = ((step.func.__doc__ or "").strip().splitlines() or [step.describe()])[0]
            yield f"-- (python) {doc}"
        for stmt in stmts:
            yield stmt.sql + ";"
            if stmt.params:
                yield "-- parameters: " + ", ".join(f"{k}={v!r}" for k, v in sorted(stmt.params.items()))
        yield ""
    if not lanes:
        for table in INTERMEDIATE_TABLES:
            yield f"DROP TABLE IF EXISTS {table};"


def _lane_notes() -> dict[str, str]:
    notes = {step.name: f"side lane, {step.lane} phase" for step in steps() if step.lane != "main"}
    for step, after in schedule(steps()):
        notes[step.name] = "main lane" + (f", after the {after} phase" if after else "")
    return notes
