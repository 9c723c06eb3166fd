"""The parallel SQLite load (ingest/shards.py) stores exactly what a one-process load stores.

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

import settings as settings_mod

from ingest import pipeline, shards
from ingest.run import run
from ingest.sample import generate
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
    monkeypatch.setattr(shards, "GROUP_BYTES", 1 << 40)
    monkeypatch.setattr(shards, "GROUP_MAX_FILES", group_files)
    monkeypatch.setattr(pipeline, "MIN_FILES_FOR_WORKERS", 1)
    one, many = _settings(tmp_path / "one.db"), _settings(tmp_path / "many.db")
    for paths in runs:
        assert _load(paths, many, workers=2) == _load(paths, one, workers=1)
    assert snapshot(many.database_url) == snapshot(one.database_url)
    with sqlite3.connect(tmp_path / "many.db") as conn:  # the merge copies with foreign keys off
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute(EVENT_COUNTS_DIFFER).fetchone() == (0,)


@pytest.mark.parametrize("group_files", [1, 2, 3, 7, 400])
def test_parallel_load_equals_one_process(tmp_path, monkeypatch, tricky_export, group_files):
    merged = []
    real_merge = shards.merge
    monkeypatch.setattr(shards, "merge", lambda *a: merged.append(real_merge(*a)) or merged[-1])
    _both(tmp_path, [[tricky_export]], monkeypatch, group_files)
    assert merged  # the parallel path ran
    if group_files == 1:  # each later file meets stored transactions alone: settled in SQL
        assert any(m and (m.get("conflict") or m.get("duplicate")) for m in merged)
    if group_files == 3:  # a twin of a stored file in a group: the group is loaded the one-process way
        assert None in merged


def test_parallel_load_of_new_files_next_to_stored_ones(tmp_path, monkeypatch, tricky_export):
    later = sorted((tricky_export / "c").iterdir())
    _both(tmp_path, [[tricky_export / "a", tricky_export / "b"], later, [tricky_export]],
          monkeypatch, group_files=2)


def test_scratch_files_are_removed(tmp_path, monkeypatch, tricky_export):
    monkeypatch.setattr(pipeline, "MIN_FILES_FOR_WORKERS", 1)
    leftover = tmp_path / "x.db.shards"
    leftover.mkdir()
    (leftover / "shard-000001.db").write_bytes(b"left by a killed ingest")
    run([str(tricky_export)], _settings(tmp_path / "x.db"), transform=False, workers=2)
    assert not leftover.exists()


def test_no_fork_from_a_process_running_other_threads(tmp_path, monkeypatch, tricky_export):
    """The scheduler runs ingest in a thread beside others: it must load in one process."""
    import threading
    monkeypatch.setattr(pipeline, "MIN_FILES_FOR_WORKERS", 1)
    merged = []
    monkeypatch.setattr(shards, "merge", lambda *a: merged.append(a))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        summary = run([str(tricky_export)], _settings(tmp_path / "t.db"), transform=False, workers=2)
    finally:
        stop.set()
        other.join()
    assert summary.files_new > 0 and merged == []
