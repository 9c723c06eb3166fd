"""Every log event is one row of db/events.py's union, whichever table holds it, and how it is held depends on
the events alone: not on how files are split between runs, nor on a database migrated from 0014.

An event whose typed row holds it whole has no parsed_logs row (migration 0015): a transaction's applied copy,
a not-in-sync error, a guard refusal, and a START, END or REPORT line that is the only one of its kind of its
request. A second such line, in a later run, gives the first its row back under its own event id.
"""
from __future__ import annotations

import gzip
import os

from alembic import command
from sqlalchemy import text

import settings as settings_mod
from db.engine import make_engine
from db.migrate import alembic_config, upgrade
from pipeline import run
from tests import dbsnap
from tests.test_ingest_run import EXAMPLES, SPLIT_CHUNKS, SPLIT_REQUEST, STREAM, export

# the END and REPORT lines of the split invocation again, in a later chunk of its stream
AGAIN = "".join(line + "\n" for line in SPLIT_CHUNKS["000001.gz"].splitlines()[1:])


def _stream(root, chunks: dict[str, str]):
    stream = root / "group" / STREAM
    stream.mkdir(parents=True, exist_ok=True)
    for name, body in chunks.items():
        (stream / name).write_bytes(gzip.compress(body.encode()))
    return stream


def _rows(url: str, sql: str) -> list[tuple]:
    engine = make_engine(url)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(dbsnap.events_sql(engine, sql)))]


def _events(url: str) -> list[tuple]:
    """Every event: where it was logged (file path, line) and what it is."""
    columns = ("line_no", "kind", "ts", "business_date", "level", "request_id", "message_id", "transaction_id",
               "user_id", "parse_status", "detail", "payload")
    return _rows(url, f"SELECT f.path, {', '.join('events.' + c for c in columns)} FROM {{events}} "
                      "JOIN ingested_files f ON f.file_id = events.file_id ORDER BY f.path, events.line_no")


def _settings(tmp_path, name: str):
    return settings_mod.load(env_file=os.devnull, DATABASE_URL=f"sqlite:///{tmp_path / name}")


def test_each_event_once_and_the_layout_whatever_the_runs(tmp_path):
    """A split invocation (START in one chunk, END and REPORT in the next) and its END and REPORT logged again
    in a third: run by run, or in one run, the database is the same, event ids included."""
    stream = _stream(tmp_path / "export", {**SPLIT_CHUNKS, "000002.gz": AGAIN})
    one, apart = _settings(tmp_path, "one.db"), _settings(tmp_path, "apart.db")
    run([str(tmp_path / "export")], one, transform=False)
    for name in ("000000.gz", "000001.gz", "000002.gz"):
        run([str(stream / name)], apart, transform=False)
    assert not dbsnap.describe_difference(dbsnap.snapshot(one.database_url), dbsnap.snapshot(apart.database_url),
                                          "one run", "a run per file")
    url = one.database_url
    lines = [(path.rsplit("/", 1)[1], line, kind) for path, line, kind, *_ in _events(url)]
    assert lines == [("000000.gz", 1, "init_start"), ("000000.gz", 2, "start"), ("000000.gz", 3, "processing"),
                     ("000001.gz", 1, "event_published"), ("000001.gz", 2, "end"), ("000001.gz", 3, "report"),
                     ("000002.gz", 1, "end"), ("000002.gz", 2, "report")]
    # the START is the only one: its invocation holds it; the END and REPORT are logged twice: each keeps its row
    assert _rows(url, "SELECT kind, count(*) FROM parsed_logs WHERE kind IN ('start', 'end', 'report') "
                      "GROUP BY kind ORDER BY kind") == [("end", 2), ("report", 2)]
    assert _rows(url, "SELECT count_starts, count_ends, count_reports, count_events FROM invocations "
                      f"WHERE request_id = '{SPLIT_REQUEST}'") == [(1, 2, 2, 7)]
    # the restored rows carry the event ids they were logged with: the file's first id and their place in it
    assert _rows(url, "SELECT p.event_id - f.first_event_id, p.line_no FROM parsed_logs p JOIN ingested_files f "
                      "USING (file_id) WHERE p.kind = 'end' ORDER BY f.path") == [(1, 2), (0, 1)]


def test_a_database_of_0014_holds_the_same_events_after_0015_as_one_ingested_since(tmp_path, database_url):
    """Down to 0014 every event gets its parsed_logs row back; up again, parsed_logs is what ingest writes
    today, and the union the same."""
    root = tmp_path / "export"
    export(root)
    _stream(root, {**SPLIT_CHUNKS, "000002.gz": AGAIN})
    (root / "long.log").write_text(EXAMPLES.read_text())  # the same transactions again: duplicates
    settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=database_url)
    run([str(root)], settings, transform=False)
    fresh, events = dbsnap.snapshot(database_url), _events(database_url)
    engine = make_engine(database_url)
    command.downgrade(alembic_config(engine), "0014")
    [(counted,)] = _rows(database_url, "SELECT sum(count_events) FROM ingested_files")
    assert _rows(database_url, "SELECT count(*), count(DISTINCT file_id * 100000 + line_no) FROM parsed_logs") \
        == [(counted, counted)] and counted > 30
    upgrade(engine)
    migrated = dbsnap.snapshot(database_url)
    assert migrated["parsed_logs"] == fresh["parsed_logs"]
    assert _events(database_url) == events
    engine.dispose()
