"""Broken and hostile input never stops the pipeline, never holds unbounded memory, never hangs.

One bad file costs only itself: its damage is recorded against it, every other file goes in, the derived
tables are built and the run exits 3. A gzip or zip that expands to hundreds of MB is read up to
MAX_FILE_MB, and one event is kept up to ingest.events.MAX_EVENT_CHARS: the memory ceilings are asserted
from the ingest process's own peak (getrusage in a subprocess). A FIFO or socket in the folder is never
opened; an empty folder is an error. Every case on SQLite and PostgreSQL where a database is involved.
"""
from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine
from errors import EXIT_DAMAGED, EXIT_USAGE
from ingest.events import MAX_EVENT_CHARS
from pipeline import run
from tests import dbsnap, pg
from tests.test_ingest_run import EXAMPLES, export

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CEILING_MB = 300  # the ingest budget (docs/ingest.md, "Memory")
BOMB_MB = 256  # what the bombs expand to
# ingest.py started by a small process that reports the peak memory of its child (the ingest process, or one
# of its workers, whichever was largest) on the last line of stderr. Not from the test process itself: Linux
# counts the memory of the process that started it in a child's own peak (execve keeps it), and pytest's is
# large.
PEAK = ("import resource, subprocess, sys; code = subprocess.call([sys.executable, 'ingest.py', *sys.argv[1:]]); "
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def cli(url: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """ingest.py (the database URL from the environment, as a URL with a password must be given)."""
    return subprocess.run([sys.executable, "-c", PEAK, *args, "--env-file", os.devnull], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout, env={**os.environ, "DATABASE_URL": url, **env})


def peak_mb(result: subprocess.CompletedProcess) -> float:
    line = result.stderr.strip().splitlines()[-1].split()
    assert line[0] == "PEAK_KB", result.stderr
    return int(line[1]) / 1024


def query(url: str, sql: str, **params) -> list[tuple]:
    """Rows of `sql`; {events} in it is every log event (db/events.py)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(dbsnap.events_sql(engine, sql)), params)]


def event_texts(url: str) -> list[str]:
    """The kept text of every stored event (ingest/texts.py), in file and line order."""
    from ingest.texts import event_text
    with make_engine(url).connect() as conn:
        rows = conn.execute(text(dbsnap.events_sql(conn.engine, "SELECT file_id, line_no FROM {events} "
                                                                "ORDER BY file_id, line_no"))).all()
        return [event_text(conn, file_id, line_no) for file_id, line_no in rows]


def aws_json(timestamp) -> dict:
    """An AWS CLI response with one good event and one whose timestamp is `timestamp`."""
    return {"events": [
        {"logStreamName": "2024/02/13/[$LATEST]565b", "timestamp": 1707858064792,
         "message": "START RequestId: 405bb962-f57b-521d-81a1-e7272fbf6077 Version: $LATEST\n"},
        {"logStreamName": "2024/02/13/[$LATEST]565b", "timestamp": timestamp,
         "message": "END RequestId: 405bb962-f57b-521d-81a1-e7272fbf6077\n"}]}


# --- 2. one bad file never blocks the run ---------------------------------------------------------------

BAD_TIMESTAMPS = {"string": "2024-02-13T21:01:05Z", "null": None, "huge": 1e30, "negative": -1e17,
                  "bool": True, "fraction": 1707858064792.5}


def test_unusable_aws_timestamps_are_quarantined_and_the_run_goes_on(tmp_path, make_settings):
    root = export(tmp_path)  # a good export beside the bad files
    for name, ts in BAD_TIMESTAMPS.items():
        (root / f"{name}.json").write_text(json.dumps(aws_json(ts)))
    settings = make_settings()
    summary = run([str(root)], settings)
    assert summary.exit_code == EXIT_DAMAGED and summary.status == "damaged"
    assert summary.transactions == 10 and summary.files_damaged == len(BAD_TIMESTAMPS)
    assert "skipped" not in summary.transform and summary.transform["user_balances"] > 0  # the build ran
    url = settings.database_url
    reasons = dict(query(url, "SELECT f.path, q.reason FROM quarantine q JOIN ingested_files f USING (file_id)"))
    for name, ts in BAD_TIMESTAMPS.items():
        reason = reasons[str(root / f"{name}.json")]
        assert reason.startswith(f"event 2 of the JSON: timestamp {json.dumps(ts)} is not epoch milliseconds")
    damaged = query(url, "SELECT path, error FROM ingested_files WHERE status = 'damaged' ORDER BY path")
    assert [Path(p).name for p, _ in damaged] == sorted(f"{name}.json" for name in BAD_TIMESTAMPS)
    assert all("1 event without a usable timestamp, quarantined" in error for _, error in damaged)
    # the good event of each bad file is stored; the run row is closed
    assert query(url, "SELECT count(*) FROM {events} JOIN ingested_files USING (file_id) "
                      "WHERE format = 'aws-json' AND kind = 'start' AND parse_status = 'ok'") == [(len(BAD_TIMESTAMPS),)]
    assert query(url, "SELECT status, exit_code FROM ingest_runs") == [("damaged", EXIT_DAMAGED)]


def test_unusable_timestamp_exit_status_of_the_command(tmp_path, database_url):
    (tmp_path / "bad.json").write_text(json.dumps(aws_json("soon")))
    result = cli(database_url, str(tmp_path))
    assert result.returncode == EXIT_DAMAGED, result.stderr
    assert "bad.json: 1 event without a usable timestamp" in result.stdout and "Traceback" not in result.stderr


def test_a_zip_whose_members_cannot_be_listed_costs_only_itself(tmp_path, make_settings):
    root = export(tmp_path)
    with zipfile.ZipFile(root / "broken.zip", "w") as zf:
        zf.writestr("export/stream/000000", EXAMPLES.read_bytes())
    data = (root / "broken.zip").read_bytes()
    at = data.rindex(b"PK\x01\x02")  # the central directory: its first entry's signature spoiled
    (root / "broken.zip").write_bytes(data[:at] + b"XX\x01\x02" + data[at + 4:])
    summary = run([str(root)], make_settings(), transform=False)
    assert summary.exit_code == EXIT_DAMAGED and summary.files_failed == 1 and summary.transactions == 10
    assert summary.problems == [{"path": str(root / "broken.zip"), "problem": "cannot read the zip archive's list "
                                 "of members: Bad magic number for central directory"}]


def test_an_unexpected_error_costs_its_file_and_names_it(tmp_path, make_settings):
    """JSON nested deeper than Python's recursion limit raises RecursionError, which no reader expects."""
    root = export(tmp_path)
    (root / "deep.json").write_text('{"events": [' + "[" * 200_000 + "]" * 200_000 + "]}")
    settings = make_settings()
    summary = run([str(root)], settings)
    assert summary.exit_code == EXIT_DAMAGED and summary.files_failed == 1 and summary.transactions == 10
    [problem] = summary.problems
    assert problem["path"] == str(root / "deep.json")
    assert problem["problem"].startswith("not ingested: unexpected RecursionError")
    assert query(settings.database_url, "SELECT status FROM ingest_runs") == [("damaged",)]


def test_an_amount_no_bigint_holds_is_quarantined(tmp_path, make_settings):
    """1e30 in micro-units fails the INSERT on both databases: the event is quarantined instead."""
    root = export(tmp_path)
    huge = EXAMPLES.read_text().replace("amount: 8,", "amount: 1e30,", 1).replace("01HPJ4BT", "01HUGE00", 1)
    (root / "huge.log").write_text(huge)
    settings = make_settings()
    summary = run([str(root)], settings)
    assert summary.exit_code == EXIT_DAMAGED and summary.files_failed == 0 and summary.quarantined == 1
    assert query(settings.database_url, "SELECT reason FROM quarantine") == [
        ("amount 1E+30 is beyond what a BIGINT of micro-units holds (±9,223,372,036,854.775807)",)]


def test_values_longer_than_their_columns_are_quarantined_alike(tmp_path, make_settings):
    """PostgreSQL refuses a value longer than its VARCHAR and SQLite keeps it: both quarantine the event."""
    long_id = "01HPJ4BT09Y3GYQQZD1XFEGDHT" + "X" * 30
    long_request = "405bb962-f57b-521d-81a1-e7272fbf6077" + "-0" * 10
    text_ = (EXAMPLES.read_text().replace("id: '01HPJ4BT09Y3GYQQZD1XFEGDHT'", f"id: '{long_id}'", 1)
             .replace("currency: 'BHD'", "currency: 'BAHRAINI-DINAR'", 1)
             .replace("405bb962-f57b-521d-81a1-e7272fbf6077\tINFO\tProcessing", f"{long_request}\tINFO\tProcessing", 1))
    (tmp_path / "long.log").write_text(text_)
    settings = make_settings()
    summary = run([str(tmp_path)], settings, transform=False)
    assert summary.exit_code == EXIT_DAMAGED and summary.files_failed == 0
    reasons = [r for (r,) in query(settings.database_url, "SELECT reason FROM quarantine ORDER BY line_no")]
    assert reasons == [
        f"request id of 56 characters is longer than the 40 the database keeps: {long_request[:39]!r}…",
        "transaction_id of 56 characters is longer than the 40 the database keeps: "
        f"{long_id[:39] + '…'!r}"]
    assert summary.transactions == 10 and summary.duplicates == 0  # the copy later in the file now counts


def _poison(url: str) -> None:
    """A trigger that makes the database refuse any event of unknown kind whose text mentions 'poison'."""
    from db.migrate import upgrade
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON unknown WHEN instr(NEW.raw, 'poison') > 0 "
                                 "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                                 "IF position('poison' in NEW.raw) > 0 "
                                 "THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON unknown FOR EACH ROW "
                                 "EXECUTE FUNCTION poison()")
    engine.dispose()


def _files_with_one_poisoned(root: Path, count: int) -> None:
    for n in range(count):  # distinct content, the same transactions (logged again)
        (root / f"copy{n:02d}.log").write_text(f"2024-02-13T21:00:00.00{n % 10}Z note {n}\n\n" + EXAMPLES.read_text())
    (root / "poisoned.log").write_text("2024-02-13T21:00:00.000Z a poison pill\n\n" + EXAMPLES.read_text())


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_the_database_refuses_costs_only_itself(tmp_path, make_settings, workers):
    """The batch (or a worker's group) holding it is written again file by file: the refused file is recorded
    against itself, every other file goes in, the derived tables are built."""
    settings = make_settings()
    _poison(settings.database_url)
    root = tmp_path / "logs"
    root.mkdir()
    _files_with_one_poisoned(root, 9)
    summary = run([str(root)], settings, workers=workers)
    assert summary.exit_code == EXIT_DAMAGED and summary.files_failed == 1 and summary.files_new == 9
    [problem] = summary.problems
    assert problem["path"] == str(root / "poisoned.log")
    assert problem["problem"].startswith("not stored: ") and problem["problem"].endswith("poisoned row")
    assert summary.transactions == 10 and summary.transform["user_balances"] == 10
    assert query(settings.database_url, "SELECT count(*) FROM ingested_files") == [(9,)]


def test_nul_and_lone_surrogates_are_stored_alike(tmp_path, make_settings):
    """PostgreSQL stores no NUL and neither database a lone surrogate: both become U+FFFD, on both backends."""
    (tmp_path / "nul.log").write_bytes(b"2024-02-13T21:01:05.050Z END RequestId: a\x00b\n\n")
    doc = {"events": [{"timestamp": 1707858065050, "message": "START RequestId: c\u0000d\ud800 Version: $LATEST\n",
                       "logStreamName": "s\u0000"}]}
    (tmp_path / "nul.json").write_text(json.dumps(doc))  # (json.dumps escapes both)
    settings = make_settings()
    summary = run([str(tmp_path / "nul.log"), str(tmp_path / "nul.json")], settings, transform=False)
    assert summary.files_new == 2 and summary.files_failed == 0
    assert sorted(event_texts(settings.database_url)) == [
        "2024-02-13T21:01:05.050Z END RequestId: a\ufffdb",
        "2024-02-13T21:01:05.050Z START RequestId: c\ufffdd\ufffd Version: $LATEST"]
    assert query(settings.database_url, "SELECT count_replaced_chars FROM ingested_files WHERE format = 'text'") \
        == [(1,)]


@pytest.mark.postgres
def test_a_run_the_database_stops_is_closed_as_failed(tmp_path, request):
    """An error of the database itself (here a trigger raising disk_full, as a full disk does) ends the run with
    one line and exit 1; its ingest_runs row says 'failed' with the error, not 'running'."""
    with pg.throwaway_database(request.getfixturevalue("pg_server")) as url:
        from db.migrate import upgrade
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE FUNCTION full_disk() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                                 "'could not extend file (simulated)' USING ERRCODE = 'disk_full'; END $$ "
                                 "LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER full_disk BEFORE INSERT ON parsed_logs FOR EACH ROW "
                                 "EXECUTE FUNCTION full_disk()")
        engine.dispose()
        result = cli(url, str(export(tmp_path)), "-q")
        assert result.returncode == 1
        assert result.stderr.splitlines()[0] == "ingest.py: error: database error: could not extend file (simulated)", \
            result.stderr
        assert len(result.stderr.splitlines()) == 2  # that line, and the launcher's PEAK_KB
        [(status, exit_code, summary)] = query(url, "SELECT status, exit_code, summary_json FROM ingest_runs")
    assert (status, exit_code) == ("failed", 1)
    assert json.loads(summary)["error"] == "database error: could not extend file (simulated)"


# --- 3. bounded memory ------------------------------------------------------------------------------------

def _repeated_examples(mb: int):
    chunk = (EXAMPLES.read_bytes() * (2 * (1 << 20) // len(EXAMPLES.read_bytes()) + 1))[: 1 << 20]
    for _ in range(mb):
        yield chunk


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> Path:
    """A gzip and a zip member that each expand to BOMB_MB of log text (2 MB on disk)."""
    folder = tmp_path_factory.mktemp("bombs")
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    with open(folder / "bomb.gz", "wb") as fh:
        for chunk in _repeated_examples(BOMB_MB):
            fh.write(compressor.compress(chunk))
        fh.write(compressor.flush())
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("export/stream/000000", "w", force_zip64=True) as fh:
        for chunk in _repeated_examples(BOMB_MB):
            fh.write(chunk)
    return folder


@pytest.mark.parametrize("bomb", ["bomb.gz", "bomb.zip"])
def test_a_bomb_is_read_up_to_the_limit_in_bounded_memory(tmp_path, database_url, bombs, bomb):
    root = export(tmp_path)
    (root / bomb).symlink_to(bombs / bomb)
    result = cli(database_url, str(root), "--max-file-mb", "2", "--workers", "1", "--no-transform")
    assert result.returncode == EXIT_DAMAGED, result.stderr
    assert peak_mb(result) < MEMORY_CEILING_MB
    assert "longer than MAX_FILE_MB=2 of text" in result.stdout
    [(size, error, events)] = query(database_url, "SELECT size_bytes, error, count_events FROM ingested_files "
                                                  "WHERE status = 'damaged'")
    assert 2 * (1 << 20) - len(EXAMPLES.read_bytes()) < size <= 2 * (1 << 20) and events > 200
    assert error.startswith("longer than MAX_FILE_MB=2 of text")
    assert query(database_url, "SELECT count(*) FROM quarantine WHERE reason LIKE 'longer than MAX_FILE_MB%'") == [(1,)]


def test_a_bomb_in_parallel_workers_stays_within_memory(tmp_path, bombs):
    """Files that expand enormously in one group (the group is cut by size on disk) are written part by part."""
    root = export(tmp_path)
    for n in range(8):
        (root / f"bomb{n}.gz").symlink_to(bombs / "bomb.gz")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = cli(url, str(root), "--max-file-mb", "3", "--workers", "2", "--no-transform")
    assert result.returncode == EXIT_DAMAGED, result.stderr
    assert peak_mb(result) < MEMORY_CEILING_MB
    assert query(url, "SELECT count(*) FROM ingested_files") == [(2,)]  # the examples, and one bomb (the rest twins)


def test_a_50_mb_line_is_kept_in_part_in_bounded_memory(tmp_path, database_url):
    """Read up to MAX_FILE_MB, kept up to MAX_EVENT_CHARS: far under the budget (kept whole, it took 280 MB)."""
    line = b"2024-02-13T21:01:05.050Z " + b"x" * (50 << 20) + b"\n"
    (tmp_path / "long.log").write_bytes(line)
    result = cli(database_url, str(tmp_path), "--workers", "1")
    assert result.returncode == EXIT_DAMAGED, result.stderr
    assert peak_mb(result) < MEMORY_CEILING_MB / 2
    [(reason, raw_length)] = query(database_url, "SELECT reason, length(raw) FROM quarantine WHERE event_id IS NOT NULL")
    assert raw_length == MAX_EVENT_CHARS and "too long to keep whole" in reason


def test_one_event_is_kept_up_to_max_event_chars(tmp_path, make_settings):
    body = "2024-02-13T21:01:05.050Z 2024-02-13T21:01:05.050Z\tr\tINFO\tStart syncing the balance {" + "y" * (1 << 20)
    (tmp_path / "long.log").write_text(EXAMPLES.read_text() + body + "\n\n")
    settings = make_settings()
    summary = run([str(tmp_path)], settings, transform=False)
    assert summary.transactions == 10 and summary.quarantined == 1 and summary.exit_code == EXIT_DAMAGED
    [(reason, raw, status)] = query(
        settings.database_url, "SELECT q.reason, q.raw, p.parse_status FROM quarantine q "
                               "JOIN parsed_logs p USING (event_id)")
    assert reason == (f"event at line {EXAMPLES.read_text().count(chr(10)) + 1} is too long to keep whole; {len(body) - 25:,} characters, of which the "
                      f"first {MAX_EVENT_CHARS:,} are kept (ingest.events.MAX_EVENT_CHARS)")
    assert raw == body[25:25 + MAX_EVENT_CHARS] and status == "quarantined"
    assert event_texts(settings.database_url)[-1] == body  # whole, in the file's kept text


# --- 4. nothing hangs -------------------------------------------------------------------------------------

def test_a_fifo_and_a_socket_are_skipped_without_being_opened(tmp_path, database_url):
    root = export(tmp_path)
    os.mkfifo(root / "pipe")  # opening it for reading would wait for a writer for ever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock"))
    try:
        result = cli(database_url, str(root), "--no-transform", timeout=60)
    finally:
        server.close()
    assert result.returncode == EXIT_DAMAGED, result.stderr
    assert f"problem: {root / 'pipe'}: a FIFO, not a regular file: skipped without opening it" in result.stdout
    assert f"problem: {root / 'sock'}: a socket, not a regular file: skipped without opening it" in result.stdout
    assert "2 not regular files, not opened" in result.stdout
    assert query(database_url, "SELECT count(*) FROM ingested_files") == [(1,)]


@pytest.mark.parametrize("content", ["empty", "junk", "fifo"])
def test_a_folder_without_log_files_is_an_error(tmp_path, content):
    folder = tmp_path / "logs"
    folder.mkdir()
    if content == "junk":
        (folder / ".DS_Store").write_bytes(b"\0")
        (folder / "__MACOSX").mkdir()
    elif content == "fifo":
        os.mkfifo(folder / "pipe")
    result = cli(f"sqlite:///{tmp_path / 'x.db'}", str(folder), timeout=60)
    expected = f"{folder}: no log file in it"
    if content == "fifo":
        expected += f" ({folder / 'pipe'}: a FIFO, not a regular file: skipped without opening it)"
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines()[0] == (f"ingest.py: error: {expected}; pass the folder of a CloudWatch export "
                                             "(or set LOG_DIR)")
    assert not (tmp_path / "x.db").exists()  # refused before the database is touched
