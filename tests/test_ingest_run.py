"""ingest.py end to end on real files: formats, damage, incremental runs, exit codes.

Transforms are switched off here: these tests are about what ingestion stores.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from db import indexes
from db.engine import make_engine
from errors import EXIT_DAMAGED, EXIT_OK
from ingest.run import count_rows
from pipeline import run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log"
STREAM = "2024-02-13-[$LATEST]565b62b84a8c4d8a88fbed06d0b23247"


def export(tmp_path: Path, name: str = "export") -> Path:
    """A one-stream export folder holding the format document's examples as 000000.gz."""
    folder = tmp_path / name / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb" / STREAM
    folder.mkdir(parents=True)
    (folder / "000000.gz").write_bytes(gzip.compress(EXAMPLES.read_bytes()))
    return tmp_path / name


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "ingest.py"), "--no-transform", *args],
                          capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=120)


def rows(url: str) -> dict[str, int]:
    return count_rows(make_engine(url))


def test_incremental_rerun_changes_nothing(tmp_path, make_settings):
    settings = make_settings()
    first = run([str(export(tmp_path))], settings, transform=False)
    before = rows(settings.database_url)
    second = run([str(tmp_path / "export")], settings, transform=False)
    assert (first.files_new, first.transactions, first.exit_code) == (1, 10, EXIT_OK)
    assert (second.files_new, second.files_skipped, second.events) == (0, 1, 0)
    after = rows(settings.database_url)
    assert {k: v for k, v in after.items() if k != "ingest_runs"} == \
           {k: v for k, v in before.items() if k != "ingest_runs"}


def test_twins_junk_zip_and_gzip_by_magic_count_once(tmp_path, make_settings):
    root = export(tmp_path)
    stream = next(root.rglob("000000.gz")).parent
    (stream / "000000").write_bytes(EXAMPLES.read_bytes())  # decompressed twin
    (stream / "renamed.txt").write_bytes(gzip.compress(EXAMPLES.read_bytes()))  # gzip under another name
    (stream / ".DS_Store").write_bytes(b"\x00junk")
    (stream / "._000000.gz").write_bytes(b"\x00junk")
    (root / "__MACOSX").mkdir()
    (root / "__MACOSX" / "x").write_bytes(b"junk")
    with zipfile.ZipFile(tmp_path / "copy.zip", "w") as zf:
        zf.write(stream / "000000.gz", f"export/{STREAM}/000000.gz")
        zf.writestr("__MACOSX/._x", b"junk")
    summary = run([str(root), str(tmp_path / "copy.zip")], make_settings(), transform=False)
    assert (summary.files_seen, summary.files_new, summary.files_skipped) == (4, 1, 3)
    assert summary.transactions == 10 and summary.exit_code == EXIT_OK


def test_each_file_is_named_below_the_folder_it_was_found_in(tmp_path, make_settings):
    """Reports and exports name a row's file by its path below the folder ingest was given (`ingested_files.path`
    keeps the path as read): a stream object, an entry of a zip (`!member`), a file given on its own."""
    from sqlalchemy import select

    from db import schema as s
    from queries.base import source_file
    root = export(tmp_path)
    with zipfile.ZipFile(tmp_path / "copy.zip", "w") as zf:  # other content than the folder's (not a twin)
        zf.writestr(f"export/{STREAM}/000001", EXAMPLES.read_bytes() + b"\n")
    single = tmp_path / "single.log"
    single.write_bytes(EXAMPLES.read_bytes() + b"\n\n")
    settings = make_settings()
    run([str(root), str(tmp_path / "copy.zip"), str(single)], settings, transform=False)
    f = s.ingested_files.c
    with make_engine(settings.database_url).connect() as conn:
        got = conn.execute(select(f.path, f.relative_path, source_file())
                           .select_from(s.ingested_files).order_by(f.file_id)).all()
    assert [tuple(r) for r in got] == [
        (str(root / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb" / STREAM / "000000.gz"),
         f"a3fb6cdb-607b-469f-8f8a-ec4792e827cb/{STREAM}/000000.gz",
         f"a3fb6cdb-607b-469f-8f8a-ec4792e827cb/{STREAM}/000000.gz"),
        (str(tmp_path / "copy.zip"), "copy.zip", f"copy.zip!export/{STREAM}/000001"),
        (str(single), "single.log", "single.log")]


def test_aws_cli_json_is_accepted(tmp_path, make_settings):
    doc = {"events": [
        {"logStreamName": "2024/02/13/[$LATEST]565b", "timestamp": 1707858064792,
         "message": "START RequestId: 405bb962-f57b-521d-81a1-e7272fbf6077 Version: $LATEST\n"},
        {"logStreamName": "2024/02/13/[$LATEST]565b", "timestamp": 1707858065050,
         "message": "2024-02-13T21:01:05.050Z\t405bb962-f57b-521d-81a1-e7272fbf6077\tINFO\tStart syncing the "
                    "balance {\n  transaction: {\n    id: 'J1',\n    userId: 'u',\n    currency: 'BHD',\n"
                    "    amount: 8,\n    vat: 0,\n    oldBalance: 24.4,\n    newBalance: 16.4\n  }\n}\n"}]}
    path = tmp_path / "pull.json"
    path.write_text(json.dumps(doc))
    settings = make_settings()
    summary = run([str(path)], settings, transform=False)
    assert summary.transactions == 1 and summary.events_by_kind == {"start": 1, "sync": 1}
    with make_engine(settings.database_url).connect() as conn:
        assert conn.execute(text("SELECT format FROM ingested_files")).scalar() == "aws-json"
        assert conn.execute(text("SELECT ts FROM balance_events")).scalar() == "2024-02-13T21:01:05.050Z"


def test_truncated_gzip_keeps_what_was_readable(tmp_path, make_settings):
    root = export(tmp_path)
    gz = next(root.rglob("000000.gz"))
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) * 2 // 3])
    settings = make_settings()
    summary = run([str(root)], settings, transform=False)
    assert summary.exit_code == EXIT_DAMAGED and summary.files_damaged == 1
    assert 0 < summary.events < 50
    with make_engine(settings.database_url).connect() as conn:
        reasons = conn.execute(text("SELECT reason FROM quarantine")).scalars().all()
        status = conn.execute(text("SELECT status, error FROM ingested_files")).one()
    assert any("truncated gzip" in r for r in reasons)
    assert status[0] == "damaged" and "truncated gzip" in status[1]


def test_bad_utf8_and_crlf_are_tolerated_and_recorded(tmp_path, make_settings):
    raw = EXAMPLES.read_bytes().replace(b"\n", b"\r\n").replace(b"Processing message", b"Processing\xff message", 1)
    (tmp_path / "weird.log").write_bytes(raw)
    summary = run([str(tmp_path / "weird.log")], make_settings(), transform=False)
    assert summary.transactions == 10
    assert any("not UTF-8" in p["problem"] for p in summary.problems)


def test_missing_path_is_a_one_line_usage_error(tmp_path):
    result = cli(str(tmp_path / "nope"), "--database-url", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"ingest.py: error: {tmp_path / 'nope'}: no such file or folder; pass the folder of a CloudWatch export "
        "(or set LOG_DIR)"]


def test_bad_setting_is_a_usage_error(tmp_path):
    result = cli(str(tmp_path), "--business-tz", "Mars/Olympus", "--database-url", f"sqlite:///{tmp_path}/x.db")
    assert result.returncode == 2 and "BUSINESS_TZ" in result.stderr and "Traceback" not in result.stderr


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    """`ingest.py | head -1`: the summary cannot be printed whole; the run is complete all the same."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "ingest.py"), "--no-transform", str(export(tmp_path)),
                             "--database-url", f"sqlite:///{tmp_path}/x.db"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    proc.stdout.close()  # before the summary is written
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and "Traceback" not in stderr and "Error" not in stderr, stderr
    assert rows(f"sqlite:///{tmp_path}/x.db")["ingested_files"] == 1


def test_cli_summary_json_and_damaged_exit_code(tmp_path):
    root = export(tmp_path)
    (root / "broken.gz").write_bytes(gzip.compress(b"2024-01-01T00:00:00.000Z END RequestId: a\n\n")[:-12])
    out = tmp_path / "summary.json"
    result = cli(str(root), "--database-url", f"sqlite:///{tmp_path}/x.db", "--summary-json", str(out))
    assert result.returncode == EXIT_DAMAGED, result.stderr
    summary = json.loads(out.read_text())
    assert summary["files_new"] == 2 and summary["files_damaged"] == 1 and summary["transactions"] == 10
    assert summary["events_by_kind"]["sync"] == 11
    assert "files:" in result.stdout and "Traceback" not in result.stderr


def test_full_refresh_rebuilds_the_same_database(tmp_path, make_settings):
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    before = rows(settings.database_url)
    again = run([str(tmp_path / "export")], settings, full_refresh=True, transform=False)
    assert again.files_new == 1
    assert {k: v for k, v in rows(settings.database_url).items() if k != "ingest_runs"} == \
           {k: v for k, v in before.items() if k != "ingest_runs"}
    # the indexes dropped for the refresh are back, although one file is no bulk load
    declared = {ix.name for table in indexes.BULK_TABLES for ix in table.indexes}
    with make_engine(settings.database_url).connect() as conn:
        present = {ix["name"] for table in indexes.BULK_TABLES for ix in inspect(conn).get_indexes(table.name)}
    assert declared <= present


def test_same_transaction_with_other_content_is_a_conflict(tmp_path, make_settings):
    """Logged at the same instant, the copy in the file whose path sorts first is applied (the order of copies
    logged at different times: tests/test_ingest_redelivery.py)."""
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    changed = EXAMPLES.read_text().replace("amount: 8,", "amount: 9,", 1)
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "changed.log").write_text(changed)  # sorts after export/…
    summary = run([str(tmp_path / "later" / "changed.log")], settings, transform=False)
    assert summary.conflicts == 1 and summary.transactions == 0
    with make_engine(settings.database_url).connect() as conn:
        kinds = conn.execute(text("SELECT kind, transaction_id, detail FROM transaction_conflicts "
                                  "WHERE kind = 'conflict'")).all()
        amount = conn.execute(text("SELECT amount_text FROM balance_events "
                                   "WHERE transaction_id = '01HPJ4BT09Y3GYQQZD1XFEGDHT'")).scalar()
    assert kinds[0][1] == "01HPJ4BT09Y3GYQQZD1XFEGDHT" and "amount_text" in kinds[0][2]
    assert amount == "8"  # the applied copy stays; the other is recorded, not silently overwritten


def test_transaction_logged_twice_in_one_file_keeps_its_outcome(tmp_path, make_settings):
    """Once the copy of a transaction later in the same file went without `outcome`, and with it the
    column of every row written in the same batch."""
    once, twice = make_settings(), make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'twice.db'}")
    run([str(export(tmp_path))], once, transform=False)
    (tmp_path / "twice.log").write_text(EXAMPLES.read_text() * 2)
    summary = run([str(tmp_path / "twice.log")], twice, transform=False)
    assert summary.transactions == 10 and summary.duplicates >= 10  # the examples repeat some already
    query = text("SELECT transaction_id, outcome FROM balance_events ORDER BY transaction_id")
    with make_engine(once.database_url).connect() as a, make_engine(twice.database_url).connect() as b:
        expected, got = a.execute(query).all(), b.execute(query).all()
    assert got == expected and None not in {o for _, o in got} and "already_synced" in {o for _, o in got}


SPLIT_REQUEST = "405bb962-f57b-521d-81a1-e7272fbf6077"
# One invocation cut in two by the export's chunking: START in 000000, the rest (and its REPORT) in 000001.
SPLIT_CHUNKS = {
    "000000.gz": (
        "2024-02-13T21:01:04.046Z INIT_START Runtime Version: nodejs:20.v15\tRuntime Version ARN: arn:x\n"
        f"2024-02-13T21:01:04.792Z START RequestId: {SPLIT_REQUEST} Version: $LATEST\n"
        f"2024-02-13T21:01:04.936Z 2024-02-13T21:01:04.936Z\t{SPLIT_REQUEST}\tINFO\tProcessing message m-1\n"),
    "000001.gz": (
        f"2024-02-13T21:01:05.242Z 2024-02-13T21:01:05.242Z\t{SPLIT_REQUEST}\tINFO\t"
        "SubscriptionBalanceUpdated event published\n"
        f"2024-02-13T21:01:05.410Z END RequestId: {SPLIT_REQUEST}\n"
        f"2024-02-13T21:01:05.410Z REPORT RequestId: {SPLIT_REQUEST}\tDuration: 617.70 ms\tBilled Duration: 618 ms\t"
        "Memory Size: 1024 MB\tMax Memory Used: 102 MB\tInit Duration: 744.70 ms\t\n"),
}
SPLIT_COLUMNS = ("path", "line_no", "start_ts", "end_ts", "business_date", "duration_ms", "init_duration_ms",
                 "is_cold_start", "has_report", "count_events", "count_messages", "runtime_version")


def _split_invocation(url: str) -> dict:
    with make_engine(url).connect() as conn:
        (row,) = conn.execute(text(
            "SELECT f.path, i.line_no, i.start_ts, i.end_ts, i.business_date, i.duration_ms, i.init_duration_ms, "
            "i.is_cold_start, i.has_report, i.count_events, i.count_messages, i.runtime_version "
            "FROM invocations i JOIN ingested_files f ON f.file_id = i.file_id")).all()
    values = dict(zip(SPLIT_COLUMNS, row))
    values["path"] = Path(values["path"]).name
    return values


@pytest.mark.parametrize("order", [("000000.gz", "000001.gz"), ("000001.gz", "000000.gz")], ids=["one-run", "reversed"])
def test_invocation_split_across_chunks_is_one_whole_invocation(tmp_path, make_settings, order):
    """Counts add up, the REPORT's cold start and the START's line count, whichever part is stored first."""
    settings = make_settings()
    stream = tmp_path / "export" / "group" / STREAM
    stream.mkdir(parents=True)
    if order[0] == "000000.gz":  # both chunks in one run (one transaction, one INSERT)
        for name, text_ in SPLIT_CHUNKS.items():
            (stream / name).write_bytes(gzip.compress(text_.encode()))
        run([str(tmp_path / "export")], settings, transform=False)
    else:  # the later chunk alone first, the START's chunk in a second run
        for name in order:
            (stream / name).write_bytes(gzip.compress(SPLIT_CHUNKS[name].encode()))
            run([str(stream / name)], settings, transform=False)
    assert _split_invocation(settings.database_url) == {
        "path": "000000.gz", "line_no": 2, "start_ts": "2024-02-13T21:01:04.792Z",
        "end_ts": "2024-02-13T21:01:05.410Z", "business_date": "2024-02-14", "duration_ms": 617.7,
        "init_duration_ms": 744.7, "is_cold_start": True, "has_report": True, "count_events": 5,
        "count_messages": 1, "runtime_version": "nodejs:20.v15"}
