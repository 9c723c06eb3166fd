"""Each file's text is kept once, compressed (file_texts), and every event reads back from it exactly.

parsed_logs keeps no copy of the text, and a payload only for the kinds no typed table holds
(docs/ingest.md, "How events are stored"). `python -m ingest show FILE_ID:LINE` prints an event's text.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine
from errors import EXIT_DAMAGED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from ingest import __main__ as show_cli
from ingest.loader import TYPED_KINDS
from ingest.texts import event_text, file_text
from pipeline import run
from tests.dbsnap import events_table
from tests.test_ingest_run import EXAMPLES, ROOT, export

EXAMPLE_TEXT = EXAMPLES.read_text()


def query(url: str, sql: str, **params) -> list[tuple]:
    """Rows of `sql`, in which {events} is every event (db/events.py), as a table."""
    engine = make_engine(url)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql.replace("{events}", events_table(engine))), params)]




def _inputs(tmp_path):
    """One file of each kind ingest keeps differently: a gzip export object (kept as its own bytes), plain text
    with CRLF and a byte that is not UTF-8, a zip member, AWS CLI JSON, and a gzip file cut short (damaged)."""
    root = export(tmp_path)
    gz = next(root.rglob("000000.gz"))
    crlf = ("2024-02-14T08:00:00.000Z START RequestId: 0f1e Version: $LATEST\n\n"
            "2024-02-14T08:00:00.100Z 2024-02-14T08:00:00.100Z\t0f1e\tINFO\tnote \xff here\n  second line\n\n")
    (tmp_path / "crlf.log").write_bytes(crlf.replace("\n", "\r\n").encode("latin-1"))
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as zf:
        zf.writestr("stream/000001", EXAMPLE_TEXT.replace("2024-02-13", "2024-02-15"))
    doc = {"events": [{"timestamp": 1707858065050, "message": "END RequestId: 9a9a\n", "logStreamName": "s"},
                      {"timestamp": 1707858065051, "message": "a message\nof two lines\n", "logStreamName": "s"}]}
    (tmp_path / "events.json").write_text(json.dumps(doc))
    whole = gzip.compress(EXAMPLE_TEXT.replace("2024-02-13", "2024-02-16").encode())
    (tmp_path / "cut.gz").write_bytes(whole[:len(whole) * 2 // 3])
    paths = [root, tmp_path / "crlf.log", tmp_path / "archive.zip", tmp_path / "events.json", tmp_path / "cut.gz"]
    return [str(p) for p in paths], gz


def test_every_event_reads_back_exactly_from_its_files_kept_text(tmp_path, make_settings):
    paths, gz = _inputs(tmp_path)
    settings = make_settings()
    summary = run(paths, settings, transform=False)
    assert summary.files_new == 5 and summary.exit_code == EXIT_DAMAGED  # (the cut gzip)
    url = settings.database_url
    files = dict(query(url, "SELECT relative_path, file_id FROM ingested_files"))
    engine = make_engine(url)
    with engine.connect() as conn:
        texts = {name: file_text(conn, file_id) for name, file_id in files.items()}
        by_file: dict[str, list[str]] = {}
        events = conn.execute(text(f"SELECT file_id, line_no FROM {events_table(engine)} ORDER BY file_id, line_no"))
        for file_id, line_no in events:
            name = next(n for n, i in files.items() if i == file_id)
            by_file.setdefault(name, []).append(event_text(conn, file_id, line_no))
    gz_name = gz.relative_to(tmp_path / "export").as_posix()
    # a text export: its events, each followed by the empty line CloudWatch writes, are the file itself
    assert "".join(t + "\n\n" for t in by_file[gz_name]) == EXAMPLE_TEXT
    assert "".join(t + "\n\n" for t in by_file["archive.zip"]) == \
        EXAMPLE_TEXT.replace("2024-02-13", "2024-02-15")
    assert by_file["crlf.log"] == ["2024-02-14T08:00:00.000Z START RequestId: 0f1e Version: $LATEST",
                                   "2024-02-14T08:00:00.100Z 2024-02-14T08:00:00.100Z\t0f1e\tINFO\tnote \ufffd here\n"
                                   "  second line"]
    assert by_file["events.json"] == ["2024-02-13T21:01:05.050Z END RequestId: 9a9a",
                                      "2024-02-13T21:01:05.051Z a message\nof two lines"]
    cut = texts["cut.gz"]  # what could be read, and nothing else
    assert cut and EXAMPLE_TEXT.replace("2024-02-13", "2024-02-16").startswith(cut)
    assert "".join(t + "\n\n" for t in by_file["cut.gz"]).startswith(cut.rstrip("\n"))
    # a gzip file read whole is kept as its own bytes; the others compressed, expanding to what was read
    [(kept,)] = query(url, "SELECT gzip FROM file_texts WHERE file_id = :f", f=files[gz_name])
    assert bytes(kept) == gz.read_bytes()
    [(kept,)] = query(url, "SELECT gzip FROM file_texts WHERE file_id = :f", f=files["crlf.log"])
    assert gzip.decompress(bytes(kept)) == (tmp_path / "crlf.log").read_bytes()
    assert query(url, "SELECT count(*) FROM file_texts") == [(5,)]


def test_parsed_logs_keeps_no_text_and_payloads_only_where_no_typed_table_does(tmp_path, make_settings):
    """And an event whose typed row holds it whole has no parsed_logs row (migration 0015)."""
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    url = settings.database_url
    assert query(url, "SELECT count(*) FROM parsed_logs WHERE text IS NOT NULL") == [(0,)]
    with_payload = dict(query(url, "SELECT kind, count(payload) FROM parsed_logs GROUP BY kind"))
    assert {k for k, n in with_payload.items() if n} == {
        "metric", "init_start", "init_report", "skip_flag_false", "slack_notification", "transaction_lock",
        "sync_error", "uncaught_exception", "invoke_error", "debug_transaction", "debug_record_body", "debug_record"}
    assert all(with_payload.get(k, 0) == 0 for k in TYPED_KINDS)
    # (a copy of a transaction logged again keeps its row: no balance_events row holds it)
    assert query(url, "SELECT kind, count(*) FROM parsed_logs WHERE kind IN ('sync', 'not_in_sync', 'start', 'end', "
                      "'report', 'negative_balance_guard') GROUP BY kind") == [("sync", 1)]
    assert query(url, "SELECT count(*) FROM parsed_logs WHERE kind = 'sync' AND event_id NOT IN "
                      "(SELECT event_id FROM transaction_conflicts)") == [(0,)]
    assert query(url, "SELECT count(*) FROM {events} WHERE kind = 'sync'") == \
        query(url, "SELECT (SELECT count(*) FROM balance_events) + (SELECT count(*) FROM transaction_conflicts)")
    # every event of a typed kind has its typed row, at the same file and line
    typed = {"sync": "balance_events", "not_in_sync": "not_in_sync_events",
             "negative_balance_guard": "negative_balance_guards"}
    for kind, table in typed.items():
        assert query(url, f"SELECT count(*) FROM parsed_logs p WHERE kind = '{kind}' AND NOT EXISTS "
                          f"(SELECT 1 FROM {table} t WHERE t.file_id = p.file_id AND t.line_no = p.line_no) "
                          "AND NOT EXISTS (SELECT 1 FROM transaction_conflicts c WHERE c.event_id = p.event_id)") \
            == [(0,)], kind
    assert query(url, "SELECT count(*) FROM parsed_logs p WHERE kind IN ('start', 'end', 'report') AND NOT EXISTS "
                      "(SELECT 1 FROM invocations i WHERE i.request_id = p.request_id)") == [(0,)]


def test_a_full_refresh_forgets_the_kept_texts_with_their_files(tmp_path, make_settings):
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    run([str(export(tmp_path, "other"))], settings, transform=False, full_refresh=True)
    assert query(settings.database_url, "SELECT f.file_id, t.file_id FROM ingested_files f "
                                        "LEFT JOIN file_texts t USING (file_id)") == [(1, 1)]


def _show(url: str, *args: str, capsys) -> tuple[int, str, str]:
    code = show_cli.main(["show", *args, "--database-url", url, "--env-file", os.devnull])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_an_events_exact_text(tmp_path, make_settings, capsys):
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    url = settings.database_url
    [(file_id, line_no)] = query(url, "SELECT file_id, line_no FROM balance_events ORDER BY ts LIMIT 1")
    block = EXAMPLE_TEXT.split("\n\n")
    starts, line = {}, 1
    for event in block:
        starts[line] = event
        line += event.count("\n") + 2
    assert _show(url, f"{file_id}:{line_no}", capsys=capsys) == (EXIT_OK, starts[line_no] + "\n", "")
    code, out, _ = _show(url, f"{file_id}:1", f"{file_id}:{line_no}", capsys=capsys)
    assert code == EXIT_OK
    assert out == f"==> {file_id}:1 <==\n{starts[1]}\n==> {file_id}:{line_no} <==\n{starts[line_no]}\n"
    assert _show(url, str(file_id), capsys=capsys) == (EXIT_OK, EXAMPLE_TEXT, "")
    assert _show(url, "99:1", capsys=capsys) == (
        EXIT_USAGE, "", "python -m ingest: error: no file 99 in ingested_files\n")
    assert _show(url, f"{file_id}:{line_no + 1}", capsys=capsys) == (
        EXIT_USAGE, "", f"python -m ingest: error: no event of file {file_id} starts at line {line_no + 1}\n")
    with pytest.raises(SystemExit) as exc:
        show_cli.main(["show", "1:x"])
    assert exc.value.code == EXIT_USAGE
    assert "'1:x' is not FILE_ID:LINE or FILE_ID (whole numbers)" in capsys.readouterr().err


def test_show_says_when_a_files_text_was_not_kept_or_does_not_match(tmp_path, make_settings, capsys):
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    url = settings.database_url
    with make_engine(url).begin() as conn:
        conn.execute(text("UPDATE file_texts SET gzip = :g"), {"g": gzip.compress(b"something else", mtime=0)})
    code, out, err = _show(url, "1:1", capsys=capsys)
    assert (code, out) == (EXIT_FAILURE, "") and err.startswith(
        "python -m ingest: error: the kept text of file 1 does not match its content hash ")
    with make_engine(url).begin() as conn:
        conn.execute(text("DELETE FROM file_texts"))
    assert _show(url, "1:1", capsys=capsys) == (
        EXIT_FAILURE, "", "python -m ingest: error: file 1 was ingested before file texts were kept (migration 0011): "
                          "parsed_logs.text holds the first line of its events; ingest again with --full-refresh to "
                          "keep the whole text\n")


def test_show_runs_as_a_module(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings_env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, str(ROOT / "ingest.py"), "--no-transform", "-q", "--env-file", os.devnull,
                    str(export(tmp_path))], check=True, cwd=ROOT, env=settings_env, timeout=120)
    done = subprocess.run([sys.executable, "-m", "ingest", "show", "1:1", "--env-file", os.devnull],
                          capture_output=True, text=True, cwd=ROOT, env=settings_env, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, EXAMPLE_TEXT.split("\n\n")[0] + "\n", "")


def test_the_raw_csv_holds_each_events_whole_text(tmp_path, make_settings):
    from queries import Filters
    from reports import queries as rq
    settings = make_settings()
    run([str(export(tmp_path))], settings, transform=False)
    names = rq.PARSED_EVENT_COLUMNS
    rows = [dict(zip(names, r)) for r in rq.parsed_events(make_engine(settings.database_url), Filters())]
    assert sorted(r["text"] for r in rows) == sorted(EXAMPLE_TEXT.split("\n\n")[:-1])
    payloads = {r["kind"]: r["payload"] for r in rows}
    assert payloads["sync"] is None and json.load(io.StringIO(payloads["metric"]))["_aws"]


def test_the_real_exports_files_read_back_whole_and_every_event_from_its_line(corpus_db):
    """On the real export: each file's kept text is its decompressed content, its events joined again are the
    file, and they start exactly at the lines the ingest tables name (db/events.py), each event once."""
    from ingest.texts import as_text, events_of
    engine = make_engine(corpus_db)
    with engine.connect() as conn:
        files = conn.execute(text("SELECT file_id, path FROM ingested_files ORDER BY file_id")).all()
        lines: dict[int, set[int]] = {}
        every = conn.execute(text(f"SELECT file_id, line_no FROM {events_table(engine)}")).all()
        for file_id, line_no in every:
            lines.setdefault(file_id, set()).add(line_no)
        assert len(every) == sum(map(len, lines.values()))  # each event once
        assert len(files) == 1672
        for file_id, path in files:
            kept = file_text(conn, file_id)
            assert kept == gzip.decompress(Path(path).read_bytes()).decode(), path
            events = events_of(conn, file_id)
            assert "".join(as_text(e) + "\n\n" for e in events) == kept, path
            assert {e.line_no for e in events} == lines[file_id], path


def test_show_request_prints_every_event_of_an_invocation_split_over_two_files(tmp_path, make_settings, capsys):
    """Nothing is indexed by request id (migration 0012): the invocation's stream's files are searched, so the part
    in the export's next chunk is found too; in time order, each event after its file and line."""
    from tests.test_ingest_run import SPLIT_CHUNKS, SPLIT_REQUEST, STREAM
    settings = make_settings()
    stream = tmp_path / "export" / "group" / STREAM
    stream.mkdir(parents=True)
    for name, text_ in SPLIT_CHUNKS.items():
        (stream / name).write_bytes(gzip.compress(text_.encode()))
    others = EXAMPLE_TEXT.replace(SPLIT_REQUEST, "0e4c5a8e-0000-4000-8000-000000000002")
    assert others != EXAMPLE_TEXT
    (stream / "000002.gz").write_bytes(gzip.compress(others.encode()))  # other invocations of the stream
    run([str(tmp_path / "export")], settings, transform=False)
    url = settings.database_url
    files = dict(query(url, "SELECT relative_path, file_id FROM ingested_files"))
    first, second = (files[f"group/{STREAM}/{name}"] for name in ("000000.gz", "000001.gz"))
    lines = SPLIT_CHUNKS["000000.gz"].splitlines()[1:] + SPLIT_CHUNKS["000001.gz"].splitlines()
    where = [(first, 2), (first, 3), (second, 1), (second, 2), (second, 3)]
    assert _show(url, "--request", SPLIT_REQUEST, capsys=capsys) == (
        EXIT_OK, "".join(f"==> {f}:{n} <==\n{line}\n" for (f, n), line in zip(where, lines)), "")
    assert _show(url, "--request", "no-such-request", capsys=capsys) == (
        EXIT_USAGE, "", "python -m ingest: error: no invocation no-such-request in invocations\n")
    assert _show(url, "--request", SPLIT_REQUEST, "1:1", capsys=capsys) == (
        EXIT_USAGE, "", "python -m ingest: error: show takes FILE_ID[:LINE] arguments or --request ID, not both or "
                        "neither\n")


def test_an_invocations_events_are_found_without_an_index_by_request_id(realistic_db):
    """request_events against the scan it replaces, for a spread of the export's invocations."""
    from ingest.texts import request_events
    assert query(realistic_db, "SELECT name FROM sqlite_master WHERE name IN "
                               "('ix_parsed_logs_request', 'ix_balance_events_message')") == []
    every = [r for (r,) in query(realistic_db, "SELECT request_id FROM invocations ORDER BY request_id")]
    requests = every[::max(1, len(every) // 40)]  # about 40, spread over the export (the sample's or the real one)
    assert len(requests) >= 20
    with make_engine(realistic_db).connect() as conn:
        for request_id in requests:
            expected = [tuple(r) for r in conn.execute(text(
                f"SELECT file_id, line_no FROM {events_table(conn.engine)} WHERE request_id = :r "
                "ORDER BY ts, file_id, line_no"), {"r": request_id})]
            assert expected and request_events(conn, request_id) == expected, request_id


def test_a_periods_events_and_the_first_and_last_dates_come_through_file_event_counts(realistic_db):
    """Nothing indexes parsed_logs by day (migration 0014): the raw CSV of a period reads the period's files, and
    the data's first and last business dates come from file_event_counts; both against a scan of every event."""
    from datetime import date

    from queries import Filters
    from queries.meta import data_period, latest_business_date
    from reports.queries import PARSED_EVENT_COLUMNS, parsed_events
    engine = make_engine(realistic_db)
    [(first, last)] = query(realistic_db, "SELECT min(business_date), max(business_date) FROM {events} "
                                          "WHERE business_date <> ''")
    assert data_period(engine) == (first, last) and latest_business_date(engine) == last
    start = date.fromisoformat(first)
    period = Filters(date(start.year, start.month, 10), date(start.year, start.month, 16))
    at = [PARSED_EVENT_COLUMNS.index(c) for c in ("file_id", "line_no", "kind")]
    got = [tuple(row[i] for i in at) for row in parsed_events(engine, period)]
    expected = query(realistic_db, "SELECT file_id, line_no, kind FROM {events} WHERE business_date "
                                   "BETWEEN :a AND :b ORDER BY ts, file_id, line_no",
                     a=period.date_from_text, b=period.date_to_text)
    assert got == expected and len(expected) > 100
    assert {"sync", "not_in_sync", "start", "end", "report", "processing"} <= {kind for _, _, kind in got}
    engine.dispose()
