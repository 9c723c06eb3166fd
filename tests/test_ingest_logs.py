"""`ingest.py --log-group NAME` against a real CloudWatch Logs API: moto's server on a loopback port (tests/aws.py).

A sample export is put into a log group, one log stream per stream folder, and read back through FilterLogEvents:
in two overlapping windows, a later window before an earlier one, one stream prefix after another, a run killed
between two pages, a token that expires halfway. Every way, the database holds the events a local ingest of the
export gives, each once. (CloudWatch takes no event older than 14 days, so the sample is written for last week.)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

import settings as settings_mod
from db.engine import make_engine
from errors import EXIT_DENIED, EXIT_OK, EXIT_USAGE, AccessDenied, UsageError
from ingest.events import iso_from_ms
from ingest.sources.checkpoints import Span, covers, merge
from ingest.sources.logs import MAX_INVOCATION_MS, LogGroupRead, window
from pipeline import run
from tests.aws import (Rule, aws_env, client, events_read, json_error, logs_call, moto_endpoint,  # noqa: F401
                       proxy, put_log_group, reset, stream_events)

ROOT = Path(__file__).resolve().parents[1]
GROUP = "/aws/lambda/balance-sync"
HOUR = 3_600_000


@pytest.fixture(scope="module")
def recent_export(tmp_path_factory) -> Path:
    """A sample export of three days of last week."""
    from sample import generate
    out = tmp_path_factory.mktemp("recent")
    generate(out, days=3, users=120, seed=11, start=date.today() - timedelta(days=6))
    return out


@pytest.fixture(scope="module")
def streams(recent_export) -> dict:
    return stream_events(recent_export)


@pytest.fixture(scope="module")
def local_events(recent_export, tmp_path_factory) -> dict:
    """What a local ingest of the export holds."""
    url = f"sqlite:///{tmp_path_factory.mktemp('local') / 'local.db'}"
    run([str(recent_export)], settings_mod.load(os.devnull, DATABASE_URL=url), transform=False)
    return events_read(url)


@pytest.fixture
def group(moto_endpoint, aws_env, streams) -> int:
    """The export's events in log group GROUP on the moto server; how many."""
    reset(moto_endpoint)
    return put_log_group(client("logs", moto_endpoint), GROUP, streams)


def span_of(streams: dict) -> tuple[int, int]:
    stamps = [ts for events in streams.values() for ts, _ in events]
    return min(stamps), max(stamps)


def settings_for(url: str, endpoint: str):
    return settings_mod.load(os.devnull, DATABASE_URL=url, AWS_ENDPOINT_URL=endpoint)


def count(url: str, sql: str):
    with make_engine(url).connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_two_overlapping_windows_give_what_a_local_ingest_gives(group, streams, local_events, moto_endpoint,
                                                               database_url):
    first, last = span_of(streams)
    middle = (first + last) // 2
    settings = settings_for(database_url, moto_endpoint)
    one = run([], settings, transform=False, read=LogGroupRead(GROUP, first, middle + 6 * HOUR))
    two = run([], settings, transform=False, read=LogGroupRead(GROUP, middle, last + HOUR))
    assert one.exit_code == two.exit_code == EXIT_OK and one.events and two.events
    assert one.events + two.events == group  # the overlap is read twice, stored once
    assert events_read(database_url) == local_events
    # without a window: from where the last read ended (less an hour): nothing new
    three = run([], settings, transform=False, read=LogGroupRead(GROUP))
    assert (three.files_new, three.events, three.log_group["complete"]) == (0, 0, True)
    assert three.log_group["start"] == iso_from_ms(last)  # the last read ended an hour after `last`
    spans = count(database_url, "SELECT count(*) FROM log_stream_checkpoints")
    assert spans == len(streams)  # one span per stream: the two windows met


def test_a_later_window_then_an_earlier_one_and_streams_by_prefix(group, streams, local_events, moto_endpoint,
                                                                 tmp_path):
    first, last = span_of(streams)
    stamps = sorted(ts for events in streams.values() for ts, _ in events)
    middle = stamps[len(stamps) // 2]  # an event: the third window stops a second before it, the second after it
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = settings_for(url, moto_endpoint)
    days = sorted({name[:10] for name in streams})
    run([], settings, transform=False, read=LogGroupRead(GROUP, middle + 1, last, stream_prefix=days[0]))
    run([], settings, transform=False, read=LogGroupRead(GROUP, middle + 1, last))
    run([], settings, transform=False, read=LogGroupRead(GROUP, first, middle - 1000))
    run([], settings, transform=False, read=LogGroupRead(GROUP, first, last))  # the second left out, if anything
    assert events_read(url) == local_events


def test_a_run_killed_between_two_pages_is_taken_up_where_it_stopped(group, streams, local_events, proxy,
                                                                    tmp_path):
    """Small pages and little held in memory: streams are stored page by page; the fourth page never comes and
    the run is killed. The next run (the same window) stores the rest, nothing twice."""
    first, last = span_of(streams)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proxy.rules.append(Rule(logs_call("FilterLogEvents"), hang=True, after=3))
    script = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); import settings; from pipeline import run; "
              f"from ingest.sources.logs import LogGroupRead; "
              f"run([], settings.load(os.devnull, DATABASE_URL={url!r}, AWS_ENDPOINT_URL={proxy.url!r}), "
              f"transform=False, read=LogGroupRead({GROUP!r}, {first}, {last}, page_events=60, hold_bytes=1))")
    killed = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while not proxy.answered and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.05)
    assert proxy.answered and killed.poll() is None, "the fourth page was never asked for"
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    stored = count(url, "SELECT sum(count_events) FROM ingested_files")
    assert 0 < stored < group
    assert count(url, "SELECT count(*) FROM log_stream_checkpoints") > 0
    assert count(url, "SELECT status FROM ingest_runs") == "running"
    proxy.rules.clear()
    rest = run([], settings_for(url, proxy.url), transform=False, read=LogGroupRead(GROUP, first, last))
    assert rest.events == group - stored
    assert events_read(url) == local_events


def test_an_expired_token_keeps_what_was_read_whole(group, streams, local_events, proxy, tmp_path):
    first, last = span_of(streams)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    proxy.rules.append(Rule(logs_call("FilterLogEvents"), 400, json_error(
        "ExpiredTokenException", "The security token included in the request is expired"),
        content_type="application/x-amz-json-1.1", times=100, after=3))
    with pytest.raises(AccessDenied) as refused:
        run([], settings_for(url, proxy.url), transform=False, read=LogGroupRead(GROUP, first, last, page_events=60))
    assert str(refused.value).startswith(
        f"log-group:{GROUP}: the AWS credentials have expired (ExpiredTokenException): renew them (e.g. aws sso "
        "login) and ingest again; the ")
    assert 0 < count(url, "SELECT sum(count_events) FROM ingested_files") < group  # the invocations of three pages
    assert count(url, "SELECT count(*) FROM log_group_reads") == 0  # not read to the end
    assert count(url, "SELECT exit_code FROM ingest_runs") == EXIT_DENIED
    proxy.rules.clear()
    run([], settings_for(url, proxy.url), transform=False, read=LogGroupRead(GROUP, first, last))
    assert events_read(url) == local_events


def test_throttling_is_retried(group, local_events, proxy, tmp_path):
    proxy.rules.append(Rule(logs_call("FilterLogEvents"), 400, json_error("ThrottlingException", "Rate exceeded"),
                            content_type="application/x-amz-json-1.1", times=2))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    summary = run([], settings_for(url, proxy.url), transform=False, read=LogGroupRead(GROUP))
    assert (summary.exit_code, summary.events, dict(proxy.answered)) == (EXIT_OK, group, {0: 2})
    assert events_read(url) == local_events


def test_a_missing_log_group_is_one_line_and_exit_2(moto_endpoint, aws_env, tmp_path):
    reset(moto_endpoint)
    result = subprocess.run([sys.executable, str(ROOT / "ingest.py"), "-q", "--log-group", "/aws/lambda/nope",
                             "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}"], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "AWS_ENDPOINT_URL": moto_endpoint}, timeout=120)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == [
        "ingest.py: error: log-group:/aws/lambda/nope: no such log group (The specified log group does not exist.)"]


def test_the_scheduler_reads_the_log_group_of_log_source(group, local_events, moto_endpoint, tmp_path):
    from scheduler import jobs
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = settings_mod.load(os.devnull, DATABASE_URL=url, AWS_ENDPOINT_URL=moto_endpoint,
                                 LOG_SOURCE=f"log-group:{GROUP}", REPORT_DIR=str(tmp_path))
    first = jobs.ingest(settings, datetime.now(timezone.utc))
    again = jobs.ingest(settings, datetime.now(timezone.utc))
    assert (first["status"], again["status"], again["files_new"]) == ("ok", "ok", 0)
    assert events_read(url)["parsed_logs"] == local_events["parsed_logs"]  # (the build fills balance_events more)


# --- the window and the spans, by themselves -----------------------------------------------------------

def test_windows_from_the_command_line():
    now = 1_707_900_000_000
    assert window("2d", None, None, now) == (now - 2 * 86_400_000, None)
    assert window(None, "2024-02-13T21:00:00Z", "2024-02-14T00:00:00+03:00", now) == (1_707_858_000_000,
                                                                                       1_707_858_000_000)
    for since, start, end, message in [
            ("2d", "2024-02-13T21:00:00Z", None, "--since cannot go with --start or --end"),
            ("2 days", None, None, "is not a duration like 30m, 12h, 2d or 1w"),
            (None, "2024-02-13T21:00:00", None, "has no offset"),
            (None, "2024-02-14T00:00:00Z", "2024-02-13T00:00:00Z", "is after --end")]:
        with pytest.raises(UsageError, match=message):
            window(since, start, end, now)


def test_spans_cover_each_event_once_and_merge_where_they_meet():
    spans = [Span(10, 50, 2)]
    assert covers(spans, 10, 1) and covers(spans, 49, 7) and covers(spans, 50, 2)
    assert not covers(spans, 50, 3) and not covers(spans, 9, 1) and not covers(spans, 51, 1)
    assert merge(spans, Span(50, 80, 1)) == [Span(10, 80, 1)]  # the later read holds every event from 50
    assert merge(spans, Span(0, 10, 0)) == [Span(0, 50, 2)]
    assert merge(spans, Span(60, 70, 1)) == [Span(10, 50, 2), Span(60, 70, 1)]  # a gap stays a gap
    assert merge(spans, Span(20, 50, 5)) == [Span(10, 50, 5)]
    assert merge(spans, Span(70, 70, 0)) == spans  # an empty span adds nothing
    assert MAX_INVOCATION_MS == 15 * 60 * 1000


def test_window_flags_need_a_log_group(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "ingest.py"), str(tmp_path), "--since", "2d"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == ["ingest.py: error: --since goes with --log-group (or LOG_SOURCE=log-group:NAME)"]
