"""The parallel load (ingest/parallel.py) stores exactly what a one-process load stores.

Groups are made tiny here so that twins, transactions logged again and requests spanning files fall
in different groups, in the same group, and in a later run; every layout must give the database a
one-process run gives, and the same run summary.
"""
from __future__ import annotations

import gzip
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

import settings as settings_mod
from db.engine import make_engine
from ingest import parallel, prepare
from ingest.reader import find_sources
from pipeline import run
from sample import generate
from tests import dbsnap
from tests.dbsnap import snapshot
from tests.test_ingest_corpus import EVENT_COUNTS_DIFFER

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = (ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log").read_text()
SUMMARY_FIELDS = ("files_seen", "files_new", "files_skipped", "files_failed", "files_damaged", "events",
                  "events_by_kind", "transactions", "conflicts", "duplicates", "quarantined", "unknown",
                  "bytes_read", "problems", "exit_code")


@pytest.fixture(scope="module")
def tricky_export(tmp_path_factory) -> Path:
    """A sample export, then files that repeat its content or its transactions, in later groups."""
    root = tmp_path_factory.mktemp("tricky")
    (root / "a").mkdir()
    (root / "a" / "examples.log").write_text(EXAMPLES)
    generate(root / "b", days=2, users=40, seed=1)
    later = root / "c"
    later.mkdir()
    (later / "1-conflict.log").write_text(EXAMPLES.replace("amount: 8,", "amount: 9,", 1))
    (later / "2-duplicate.log").write_text(EXAMPLES + "\n")  # other bytes, the same transactions
    (later / "3-twin.gz").write_bytes(gzip.compress(EXAMPLES.encode()))  # same content as a/examples.log
    (later / "4-third-copy.log").write_text(EXAMPLES.replace("amount: 8,", "amount: 7,", 1))
    (later / "5-broken.gz").write_bytes(gzip.compress(EXAMPLES.encode())[:-20])  # damaged tail
    (later / "6-not-gzip.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")  # unreadable
    return root


def _settings(path: Path):  # SQLite only: the parallel load is SQLite's
    return settings_mod.load(env_file=os.devnull, DATABASE_URL=f"sqlite:///{path}")


def _load(paths, url_settings, workers):
    summary = run([str(p) for p in paths], url_settings, transform=False, workers=workers)
    return {f: getattr(summary, f) for f in SUMMARY_FIELDS}


def _both(tmp_path, runs, monkeypatch, group_files):
    monkeypatch.setattr(parallel, "GROUP_BYTES", 1 << 40)
    monkeypatch.setattr(parallel, "GROUP_MAX_FILES", group_files)
    monkeypatch.setattr(prepare, "MIN_FILES_FOR_WORKERS", 1)
    one, many = _settings(tmp_path / "one.db"), _settings(tmp_path / "many.db")
    for paths in runs:
        assert _load(paths, many, workers=2) == _load(paths, one, workers=1)
    assert snapshot(many.database_url) == snapshot(one.database_url)
    with sqlite3.connect(tmp_path / "many.db") as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        events = dbsnap.events_table(make_engine(many.database_url))
        assert conn.execute(EVENT_COUNTS_DIFFER.replace("{events}", events)).fetchone() == (0,)


@pytest.mark.postgres
def test_parallel_load_into_postgresql_equals_one_process(pg_server, monkeypatch, tricky_export):
    """`--workers N` on PostgreSQL: the workers write in turns through their own connections."""
    monkeypatch.setattr(parallel, "GROUP_BYTES", 1 << 40)
    monkeypatch.setattr(parallel, "GROUP_MAX_FILES", 3)
    monkeypatch.setattr(prepare, "MIN_FILES_FOR_WORKERS", 1)
    seen = _counting_groups(monkeypatch)
    one, many = (settings_mod.load(env_file=os.devnull, DATABASE_URL=pg_server.create_database(name))
                 for name in ("par_one", "par_many"))
    assert _load([tricky_export], many, workers=2) == _load([tricky_export], one, workers=1)
    assert seen and snapshot(many.database_url) == snapshot(one.database_url)


def _counting_groups(monkeypatch) -> list:
    """Record the groups the parallel load hands to its workers."""
    seen = []
    real = parallel.groups
    monkeypatch.setattr(parallel, "groups", lambda sources: seen.append(real(sources)) or seen[-1])
    return seen


@pytest.mark.parametrize("group_files", [1, 2, 3, 7, 400])
def test_parallel_load_equals_one_process(tmp_path, monkeypatch, tricky_export, group_files):
    seen = _counting_groups(monkeypatch)
    _both(tmp_path, [[tricky_export]], monkeypatch, group_files)
    files = sum(len(group) for group in seen[0])  # the parallel path ran, with groups of group_files
    assert [len(group) for group in seen[0]] == [group_files] * (files // group_files) + (
        [files % group_files] if files % group_files else [])


def test_parallel_load_of_new_files_next_to_stored_ones(tmp_path, monkeypatch, tricky_export):
    later = sorted((tricky_export / "c").iterdir())
    _both(tmp_path, [[tricky_export / "a", tricky_export / "b"], later, [tricky_export]],
          monkeypatch, group_files=2)


def test_a_failing_group_stops_the_run_and_keeps_the_groups_before_it(tmp_path, monkeypatch, tricky_export):
    """A group the database cannot take ends the run with its error; the groups before it stay whole,
    and no later group is written without it. (A file the database refuses costs only itself:
    tests/test_ingest_hostile.py.)"""
    monkeypatch.setattr(parallel, "GROUP_BYTES", 1 << 40)
    monkeypatch.setattr(parallel, "GROUP_MAX_FILES", 2)
    monkeypatch.setattr(prepare, "MIN_FILES_FOR_WORKERS", 1)
    real_store = parallel.store

    def fail_on_duplicate(engine, run_id, sources, *rest):  # runs in a worker
        if any(source.path.name == "2-duplicate.log" for source in sources):
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full (simulated)"))
        return real_store(engine, run_id, sources, *rest)
    monkeypatch.setattr(parallel, "store", fail_on_duplicate)
    with pytest.raises(OperationalError, match="disk is full"):
        run([str(tricky_export)], _settings(tmp_path / "f.db"), transform=False, workers=2)
    groups = parallel.groups(list(find_sources([str(tricky_export)])))
    failing = next(i for i, g in enumerate(groups) if any(src.path.name == "2-duplicate.log" for src in g))
    before = {str(src.path) for g in groups[:failing] for src in g if not src.path.name.startswith("6-")}
    with sqlite3.connect(tmp_path / "f.db") as conn:
        stored = {path for (path,) in conn.execute("SELECT path FROM ingested_files")}
        assert conn.execute("SELECT status FROM ingest_runs").fetchall() == [("failed",)]
    assert stored == before and failing > 2


def test_no_fork_from_a_process_running_other_threads(tmp_path, monkeypatch, tricky_export):
    """The scheduler runs ingest in a thread beside others: it must load in one process."""
    import threading
    monkeypatch.setattr(prepare, "MIN_FILES_FOR_WORKERS", 1)
    seen = _counting_groups(monkeypatch)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        summary = run([str(tricky_export)], _settings(tmp_path / "t.db"), transform=False, workers=2)
    finally:
        stop.set()
        other.join()
    assert summary.files_new > 0 and seen == []
