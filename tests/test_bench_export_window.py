"""bench/export_window.py: the events of a time window, whole and byte for byte, as an export task of that range."""
from __future__ import annotations

import gzip

from bench.export_window import main, window

LOG = (b"2024-05-19T11:59:59.999Z START RequestId: a Version: $LATEST\n\n"
       b"2024-05-19T12:00:00.000Z 2024-05-19T12:00:00.000Z\ta\tINFO\tStart syncing {\n  amount: 1.5,\n}\n\n"
       b"2024-05-19T12:14:59.999Z END RequestId: a\n\n"
       b"2024-05-19T12:15:00.000Z START RequestId: b Version: $LATEST\n\n")


def test_a_window_keeps_its_events_whole_with_their_continuation_lines():
    kept = window(LOG, b"2024-05-19T12:00:00.000Z", b"2024-05-19T12:15:00.000Z")
    assert kept == (b"2024-05-19T12:00:00.000Z 2024-05-19T12:00:00.000Z\ta\tINFO\tStart syncing {\n"
                    b"  amount: 1.5,\n}\n\n"
                    b"2024-05-19T12:14:59.999Z END RequestId: a\n\n")


def test_files_keep_their_place_and_format_and_empty_ones_are_not_written(tmp_path, capsys):
    source = tmp_path / "day"
    (source / "task" / "stream-a").mkdir(parents=True)
    (source / "task" / "stream-b").mkdir(parents=True)
    (source / "task" / "stream-a" / "000000.gz").write_bytes(gzip.compress(LOG))
    (source / "task" / "stream-b" / "000000").write_bytes(LOG[:62])  # the 11:59 START alone
    assert main([str(source), str(tmp_path / "out"), "2024-05-19T12:15:00.000Z", "2024-05-19T12:30:00.000Z"]) == 0
    written = [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written == ["task/stream-a/000000.gz"]
    assert gzip.decompress((tmp_path / "out" / written[0]).read_bytes()) == (
        b"2024-05-19T12:15:00.000Z START RequestId: b Version: $LATEST\n\n")
    assert "1 file with events" in capsys.readouterr().out
