"""The two-lane SQLite build (transform/lanes.py): exactly what one connection builds, and its rules hold."""
from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
import sqlalchemy.exc

import settings as settings_mod
from db.engine import make_engine
from tests.dbsnap import snapshot
from tests.test_transform_fixture import ledger  # noqa: F401  (the hand-written ledger: a module fixture)
from tests.transform_ledger import LedgerDB, uid
from transform import lanes
from transform.params import from_settings
from transform.runner import build_all
from transform.steps import Step, steps


def rebuilt(url: str, path: Path, lanes_: int) -> dict:
    """Snapshot of a consistent copy of a SQLite database (the backup API: with what its WAL holds), rebuilt."""
    source, target = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(path)
    source.backup(target)
    source.close(), target.close()
    copy = f"sqlite:///{path}"
    engine = make_engine(copy)
    build_all(engine, settings_mod.load(env_file=os.devnull, DATABASE_URL=copy), lanes=lanes_)
    engine.dispose()
    return snapshot(copy)


def test_two_lanes_build_what_one_connection_builds_on_the_hand_written_ledger(ledger, tmp_path):  # noqa: F811
    one, two = rebuilt(ledger.url, tmp_path / "one.db", 1), rebuilt(ledger.url, tmp_path / "two.db", 2)
    assert two["anomalies"] and two["discrepancy_report"] and two["user_balances"]  # something was built
    assert one == two


def test_two_lanes_build_what_one_connection_builds_on_a_realistic_export(realistic_db, tmp_path):
    # realistic_db (the real export when it is there, else the sample) was built by ingest.run, on two lanes with
    # the index rebuild beside the ledger
    assert rebuilt(realistic_db, tmp_path / "one.db", 1) == snapshot(realistic_db)


def test_main_steps_wait_for_the_side_lane_phases_they_come_after():
    waits = {step.name: after for step, after in lanes.schedule(steps())}
    assert waits["daily_event_counts"] is None and waits["daily_health"] is None
    assert waits["balance_events"] == "ledger" and waits["discrepancy_report"] == "ledger"
    assert waits["detector error_days"] == "side" and waits["user_balances"] == "side"
    assert "int_ledger" not in waits and "detector burst" not in waits  # the side lane's own
    assert "daily_flows" not in waits  # built by the side lane, copied in by the main lane


def test_a_main_step_between_the_steps_of_a_phase_is_refused():
    plan = steps()
    at = next(i for i, step in enumerate(plan) if step.name == "detector burst")
    plan.insert(at, Step("user_balances", "user_balances", "rebuild", "user_balances.sql"))
    with pytest.raises(ValueError, match="'user_balances' comes between the steps of the side phase"):
        lanes.schedule(plan)


def side_connection(db: LedgerDB, tmp_path: Path) -> sqlite3.Connection:
    params = from_settings(db.settings)
    side = lanes.SideLane(str(db.url.removeprefix("sqlite:///")),
                          {lanes.LEDGER: tmp_path / "l.db", lanes.FINDINGS: tmp_path / "f.db"}, params, params.bind())
    return side._connect()


def test_the_side_lane_may_read_the_ingest_tables_only(ledger, tmp_path):  # noqa: F811
    conn = side_connection(ledger, tmp_path)
    assert conn.execute("SELECT count(*) FROM balance_events").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM not_in_sync_events").fetchone()[0] > 0
    # the derived tables hold the previous build: reading one would be a silent error, so it is a loud one
    for table in ("discrepancy_report", "anomalies", "daily_flows", "transform_state", "ref_currencies"):
        with pytest.raises(sqlite3.DatabaseError, match=f"access to build_source.{table}.* is prohibited"):
            conn.execute(f"SELECT * FROM {table}")
    # count(*) names no database to the authorizer: judged by the name (ref_* and daily_flows are the side
    # lane's own)
    for table in ("discrepancy_report", "anomalies", "user_balances", "transform_state"):
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(f"SELECT count(*) FROM {table}")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM build_source.balance_events")
    conn.close()


def test_a_failing_side_lane_hands_its_error_to_the_main_lane(tmp_path):
    params = from_settings(settings_mod.load(env_file=os.devnull, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"))
    side = lanes.SideLane(str(tmp_path / "missing.db"),
                          {lanes.LEDGER: tmp_path / "l.db", lanes.FINDINGS: tmp_path / "f.db"}, params, params.bind())
    side.start()
    with pytest.raises(sqlalchemy.exc.OperationalError, match="unable to open database"):
        side.wait("ledger")
    side.join(timeout=10)
    assert not side.is_alive()


def small_ledger(path: Path) -> LedgerDB:
    db = LedgerDB(f"sqlite:///{path}")
    db.tx("T1", uid(1), "2024-03-04T21:01:00.000Z", "DEBIT", "8", "0", "10", "2")
    db.tx("T2", uid(1), "2024-03-05T21:01:00.000Z", "DEBIT", "8", "0", "3", "-5", payment="-4")
    db.not_in_sync("T2", uid(1), "2024-03-05T21:01:00.500Z", "-5", "-4")
    db.build()
    return db


@pytest.mark.parametrize("when", ["early", "late"])
def test_a_failed_build_keeps_the_previous_one_stops_its_side_lane_and_leaves_no_scratch_files(tmp_path, monkeypatch,
                                                                                            when):
    """early: the main lane fails while the side lane is still at work (it is interrupted); late: after the side
    lane has finished (its connection is closed by then)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    db = small_ledger(tmp_path / "failed.db")
    before = snapshot(db.url)

    def fail_early(_conn):
        raise RuntimeError("the index rebuild failed")

    def fail_late(step, _seconds):
        if step.name == "anomalies":
            raise RuntimeError("the index rebuild failed")
    options = {"alongside": fail_early} if when == "early" else {"on_step": fail_late}
    with pytest.raises(RuntimeError, match="the index rebuild failed"):
        build_all(db.engine, db.settings, **options)
    assert not [t for t in threading.enumerate() if t.name == "transform-side-lane"]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert snapshot(db.url) == before
    build_all(db.engine, db.settings)  # the engine's pooled connection is still good (nothing left attached)
    assert snapshot(db.url) == before
    assert list((tmp_path / "tmp").iterdir()) == []
    db.close()


def test_no_other_connection_can_change_the_ingest_tables_while_the_side_lane_reads_them(tmp_path):
    db = small_ledger(tmp_path / "locked.db")
    other = sqlite3.connect(tmp_path / "locked.db", timeout=0)
    refused = []

    def try_to_write(_conn):  # called once the side lane has started, before any step of the main lane
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO ingested_files (file_id, path, content_hash, status) "
                          "VALUES (2, 'late.log', 'y', 'ok')")
        refused.append(True)
    build_all(db.engine, db.settings, alongside=try_to_write)
    assert refused == [True]
    other.close()
    db.close()


def test_scratch_folders_of_killed_builds_are_removed_by_the_next_build(tmp_path, monkeypatch):
    import subprocess
    import sys
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / "tmp" / f"{lanes.SCRATCH_PREFIX}{int(gone.stdout)}-abc"  # its process has exited
    alive = tmp_path / "tmp" / f"{lanes.SCRATCH_PREFIX}{os.getpid()}-def"  # a build still running here
    for folder in (stale, alive):
        folder.mkdir()
        (folder / "ledger.db").write_bytes(b"x")
    db = small_ledger(tmp_path / "stale.db")
    assert not stale.exists() and alive.exists()
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == [alive.name]
    db.close()
