"""Ingests that overlap, and an ingest killed with SIGKILL, on SQLite and on PostgreSQL.

Each test runs `ingest.py` as a real process on the real export (a sample of
its size when it is not beside the checkout: `large_dir`), the way cron or a
person would start it: the locks under test are between processes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine, sqlite_file
from tests import dbsnap

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 120  # upper bound for one ingest of the corpus on a slow CI machine
EXIT_BUSY = 4

# ingest.py with a smaller commit interval, so a kill lands between many commits, not before the first.
LAUNCH = ("import sys, ingest.store as st; st.PART_EVENTS = int(sys.argv.pop(1)); "
          "from pipeline.cli import main; sys.exit(main(sys.argv[1:]))")


def ingest(url: str, corpus: Path, *extra: str, commit_every: int | None = None) -> subprocess.Popen:
    args = [str(corpus), "--database-url", url, "--env-file", os.devnull, "-q", *extra]
    cmd = [sys.executable, "-c", LAUNCH, str(commit_every), *args] if commit_every \
        else [sys.executable, "ingest.py", *args]
    # A session of its own: the test can end the whole process tree (parser workers included) at the end.
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, out, err


def end_process_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def scalar(url: str, sql: str):
    """One value, or None while the table does not exist yet (the ingest is still creating it)."""
    engine = make_engine(url, readonly=True)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    except Exception:
        return None
    finally:
        engine.dispose()


def wait_until(condition, what: str, proc: subprocess.Popen, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the ingest ended (exit {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def corpus_part(corpus: Path, out: Path, every: int = 3) -> Path:
    """Every `every`-th file of the export, linked into `out`: enough to overlap two ingests, a third of the time."""
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    for path in files[::every]:
        target = out / path.relative_to(corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return out


def busy_line(url: str) -> str:
    path = sqlite_file(make_engine(url))
    where = f"lock {path}.ingest.lock" if path else "PostgreSQL advisory lock"
    return f"another ingest is running on this database ({where})"


def test_two_ingests_started_at_once_load_everything_once(database_url, large_dir, tmp_path):
    """The second waits for the first (and says so), then finds every file known: nothing is loaded twice."""
    part = corpus_part(large_dir, tmp_path / "logs")
    first = ingest(database_url, part, "--no-transform", "--summary-json", str(tmp_path / "a.json"))
    second = ingest(database_url, part, "--no-transform", "--summary-json", str(tmp_path / "b.json"))
    try:
        results = [finish(first), finish(second)]
    finally:
        end_process_group(first), end_process_group(second)
    assert [code for code, _, _ in results] == [0, 0], results
    summaries = [json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json")]
    loaded, idle = sorted(range(2), key=lambda i: -summaries[i]["files_new"])
    files = summaries[loaded]["files_seen"]
    assert (summaries[loaded]["files_new"], summaries[idle]["files_new"]) == (files, 0)
    assert summaries[idle]["files_skipped"] == files
    assert f"{busy_line(database_url)}; waiting for it to finish" in results[idle][2]

    assert scalar(database_url, "SELECT count(*) FROM ingested_files") == files
    assert scalar(database_url, "SELECT sum(count_events) FROM ingested_files") == summaries[loaded]["events"]
    assert scalar(database_url, "SELECT count(*) FROM parsed_logs") < summaries[loaded]["events"]  # db/events.py
    assert scalar(database_url, "SELECT count(*) FROM balance_events") == summaries[loaded]["transactions"]
    assert scalar(database_url, "SELECT count(*) FROM transaction_conflicts") == summaries[loaded]["conflicts"] \
        + summaries[loaded].get("duplicates", 0)
    assert scalar(database_url, "SELECT count(*) FROM ingest_runs WHERE status = 'ok'") == 2


def test_no_wait_exits_4_with_a_clear_message_while_another_ingest_runs(database_url, large_dir):
    first = ingest(database_url, large_dir, "--no-transform")
    try:
        wait_until(lambda: scalar(database_url, "SELECT count(*) FROM ingest_runs WHERE status = 'running'"),
                   "the first ingest holds the lock", first)
        second = ingest(database_url, large_dir, "--no-transform", "--no-wait")
        code, out, err = finish(second)
        assert code == EXIT_BUSY, (out, err)
        assert err.strip() == f"ingest.py: error: {busy_line(database_url)}; wait for it to finish or run again later"
        assert out == ""
        assert first.poll() is None, "the first ingest is not disturbed"
    finally:
        end_process_group(first)  # no need to wait for the whole corpus: the refusal is what is tested
    assert scalar(database_url, "SELECT count(*) FROM ingest_runs") == 1  # the refused one left no trace


def test_sigkill_mid_run_then_rerun_gives_the_same_database(request, database_url, large_dir):
    """kill -9 of the ingest (its parser workers live on as orphans) loses no file, doubles none, and
    leaves no stale lock: a rerun with --no-wait completes the same database as an uninterrupted run."""
    reference = request.getfixturevalue("large_db" if database_url.startswith("sqlite") else "large_db_pg")
    total = dbsnap.row_counts(reference)["ingested_files"]
    victim = ingest(database_url, large_dir, commit_every=2_000)
    rerun = None
    try:
        wait_until(lambda: (scalar(database_url, "SELECT count(*) FROM ingested_files") or 0) > 0,
                   "the first files are committed", victim)
        os.kill(victim.pid, signal.SIGKILL)  # the ingest process only, as `kill -9 PID` would
        victim.wait(timeout=WAIT_S)
        committed = scalar(database_url, "SELECT count(*) FROM ingested_files")
        assert 0 < committed < total, f"the kill should land mid-run ({committed} of {total} files in)"
        assert scalar(database_url, "SELECT status FROM ingest_runs") == "running"

        rerun = ingest(database_url, large_dir, "--no-wait")
        code, out, err = finish(rerun)
        assert code == 0, f"rerun failed ({code}): {err}"
        assert f"{total - committed} new, {committed} skipped" in out
    finally:
        end_process_group(victim)  # the orphaned parser workers
        if rerun is not None:
            end_process_group(rerun)

    assert [r for r in _runs(database_url)] == ["interrupted", "ok"]
    assert dbsnap.schema(database_url) == dbsnap.schema(reference)
    problems = dbsnap.describe_difference(dbsnap.snapshot(database_url), dbsnap.snapshot(reference),
                                          "killed+rerun", "uninterrupted")
    assert not problems, "\n".join(problems)


def _runs(url: str) -> list[str]:
    engine = make_engine(url, readonly=True)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT status FROM ingest_runs ORDER BY run_id")).scalars())
    finally:
        engine.dispose()
