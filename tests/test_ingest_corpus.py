"""A realistic export (the real one, BALANCE_LOGS_CORPUS, when it is beside the checkout, else the sample): every
block parsed, nothing quarantined, re-runs add nothing. The real export's own figures are checked apart (skipped
without it)."""
from __future__ import annotations

import gzip
import os
import re

import pytest
from sqlalchemy import text

import settings as settings_mod
from db.engine import make_engine
from ingest.run import count_rows
from pipeline import run
from tests import dbsnap


@pytest.fixture(scope="module")
def raw_counts(realistic_dir):
    """Counted straight from the decompressed files, independently of the parser."""
    counts = {"files": 0, "sync": 0, "not_in_sync": 0, "events": 0, "ids": set()}
    start = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", re.M)
    for path in realistic_dir.rglob("*"):
        if path.is_file():
            data = gzip.decompress(path.read_bytes())
            counts["files"] += 1
            counts["events"] += len(start.findall(data))
            counts["sync"] += data.count(b"\tINFO\tStart syncing the balance {\n")
            counts["not_in_sync"] += data.count(b"\tERROR\tSubscription balance and payment balance are not in sync")
            counts["ids"].update(re.findall(rb"Start syncing the balance \{\n  transaction: \{\n    id: '(\w+)'", data))
    return counts


def scalar(url: str, sql: str):
    """The value `sql` selects; {events} in it is every log event (db/events.py)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        return conn.execute(text(dbsnap.events_sql(engine, sql))).scalar()


def test_every_event_and_block_is_parsed(realistic_db, raw_counts):
    assert scalar(realistic_db, "SELECT count(*) FROM ingested_files") == raw_counts["files"] > 0
    assert scalar(realistic_db, "SELECT count(*) FROM {events}") == raw_counts["events"]
    assert scalar(realistic_db, "SELECT count(*) FROM {events} WHERE kind = 'sync'") == raw_counts["sync"]
    assert scalar(realistic_db, "SELECT count(*) FROM balance_events") == len(raw_counts["ids"]) == raw_counts["sync"]
    assert scalar(realistic_db, "SELECT count(*) FROM not_in_sync_events") == raw_counts["not_in_sync"]
    assert scalar(realistic_db, "SELECT count(*) FROM quarantine") == 0
    assert scalar(realistic_db, "SELECT count(*) FROM unknown") == 0
    assert scalar(realistic_db, "SELECT count(*) FROM transaction_conflicts") == 0


# file_event_counts rows that grouping every event does not give, and the other way round
EVENT_COUNTS_DIFFER = """
    SELECT count(*) FROM (
        SELECT file_id, business_date, kind, detail, count_events FROM file_event_counts
        EXCEPT SELECT file_id, business_date, kind, detail, count(*) FROM {events}
               GROUP BY file_id, business_date, kind, detail
        UNION ALL
        SELECT file_id, business_date, kind, detail, count(*) FROM {events}
               GROUP BY file_id, business_date, kind, detail
        EXCEPT SELECT file_id, business_date, kind, detail, count_events FROM file_event_counts) AS d"""


def test_event_counts_per_file_are_those_of_every_event(realistic_db):
    assert scalar(realistic_db, "SELECT sum(count_events) FROM file_event_counts") == \
        scalar(realistic_db, "SELECT count(*) FROM {events}") > 0
    assert scalar(realistic_db, EVENT_COUNTS_DIFFER) == 0


def test_not_in_sync_errors_are_tied_to_their_transaction(realistic_db):
    assert scalar(realistic_db, "SELECT count(*) FROM not_in_sync_events WHERE transaction_id IS NULL") == 0
    # the user printed in the error is the user of the transaction it was tied to
    assert scalar(realistic_db, """SELECT count(*) FROM not_in_sync_events n
                                   JOIN balance_events b ON b.transaction_id = n.transaction_id
                                   WHERE b.user_id <> n.user_id""") == 0


def test_invocations_have_their_report(realistic_db):
    assert scalar(realistic_db, "SELECT count(*) FROM invocations") > 0
    assert scalar(realistic_db, "SELECT count(*) FROM invocations WHERE NOT has_report") == 0
    cold = scalar(realistic_db, "SELECT count(*) FROM invocations WHERE is_cold_start")
    assert 0 < cold < scalar(realistic_db, "SELECT count(*) FROM invocations")  # warm ones too
    assert scalar(realistic_db, "SELECT count(*) FROM invocations WHERE runtime_version IS NULL") == 0


def test_a_second_run_adds_nothing(realistic_db, realistic_dir, raw_counts):
    engine = make_engine(realistic_db)
    before = count_rows(engine)
    summary = run([str(realistic_dir)], settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db))
    assert (summary.files_new, summary.files_skipped, summary.events) == (0, raw_counts["files"], 0)
    after = count_rows(engine)
    assert after.pop("ingest_runs") == before.pop("ingest_runs") + 1
    assert after == before


# --- the real export's own figures --------------------------------------------------------------------------

def test_the_real_export_has_1672_files_and_82259_events(corpus_db):
    assert scalar(corpus_db, "SELECT count(*) FROM ingested_files") == 1672
    assert scalar(corpus_db, "SELECT sum(count_events) FROM file_event_counts") == 82259


def test_the_real_exports_invocations_and_cold_starts(corpus_db):
    assert scalar(corpus_db, "SELECT count(*) FROM invocations") == 8278
    cold = scalar(corpus_db, "SELECT count(*) FROM invocations WHERE is_cold_start")
    assert 1500 < cold <= 1688  # one INIT_START per stream, fewer after the crash loop of 2023-12-28
