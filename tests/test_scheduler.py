"""The scheduler with a fake clock: when jobs fire (business time), what they write, and that failures don't stop it."""
from __future__ import annotations

import gzip
import re
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

import settings as settings_mod
from scheduler import cli, schedule
from scheduler.schedule import FakeClockRunner
from settings import SettingsError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log"
STREAM = "2024-02-13-[$LATEST]565b62b84a8c4d8a88fbed06d0b23247"
UTC = timezone.utc


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make(tmp_path: Path, database_url: str | None = None, **values):
    values = {"BUSINESS_TZ": "+03:00", "LOG_DIR": str(tmp_path / "logs"), "REPORT_DIR": str(tmp_path / "reports"),
              **values}
    return settings_mod.load(env_file=os.devnull, DATABASE_URL=database_url or f"sqlite:///{tmp_path / 'db.sqlite'}",
                             **values)


def write_export(log_dir: Path) -> None:
    folder = log_dir / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb" / STREAM
    folder.mkdir(parents=True)
    (folder / "000000.gz").write_bytes(gzip.compress(EXAMPLES.read_bytes()))


def test_jobs_fire_on_business_time(tmp_path):
    settings = make(tmp_path, INGEST_EVERY_MINUTES="360", DAILY_REPORT_TIME="01:00", WEEKLY_REPORT_WEEKDAY="mon")
    runner = FakeClockRunner(settings, utc("2024-01-13T12:00:00Z"))  # a Saturday
    runs = [(name, when.astimezone(UTC).isoformat()) for name, when, _ in
            runner.advance_to(utc("2024-01-15T21:00:00Z"), execute=False)]
    assert [r for r in runs if r[0] != "ingest"] == [
        ("daily-overdrafts", "2024-01-13T22:00:00+00:00"),  # 01:00 on Sunday 14th in +03:00
        ("daily-overdrafts", "2024-01-14T22:00:00+00:00"),
        ("weekly-reconciliation", "2024-01-14T22:00:00+00:00"),  # Monday 15th, 01:00 business time
    ]
    assert [when for name, when in runs if name == "ingest"] == [
        "2024-01-13T12:00:00+00:00", "2024-01-13T18:00:00+00:00", "2024-01-14T00:00:00+00:00",
        "2024-01-14T06:00:00+00:00", "2024-01-14T12:00:00+00:00", "2024-01-14T18:00:00+00:00",
        "2024-01-15T00:00:00+00:00", "2024-01-15T06:00:00+00:00", "2024-01-15T12:00:00+00:00",
        "2024-01-15T18:00:00+00:00"]


def test_scheduled_day_in_a_named_time_zone(tmp_path):
    settings = make(tmp_path, BUSINESS_TZ="Asia/Riyadh", DAILY_REPORT_TIME="00:30", WEEKLY_REPORT_WEEKDAY="Sunday")
    runner = FakeClockRunner(settings, utc("2024-01-13T00:00:00Z"))
    runs = [(n, w.astimezone(UTC).isoformat()) for n, w, _ in runner.advance_to(utc("2024-01-14T23:00:00Z"), False)
            if n != "ingest"]
    assert runs == [("daily-overdrafts", "2024-01-13T21:30:00+00:00"),
                    ("weekly-reconciliation", "2024-01-13T21:30:00+00:00"),
                    ("daily-overdrafts", "2024-01-14T21:30:00+00:00")]


def test_a_failing_job_is_logged_and_the_scheduler_keeps_going(tmp_path, database_url, caplog):
    caplog.set_level(logging.INFO, logger="balance_logs")
    settings = make(tmp_path, database_url, INGEST_EVERY_MINUTES="60", DAILY_REPORT_TIME="01:00",
                    WEEKLY_REPORT_WEEKDAY="mon")
    runner = FakeClockRunner(settings, utc("2024-05-19T19:30:00Z"))  # Sunday 22:30 business time

    first = runner.advance_to(utc("2024-05-19T19:45:00Z"))  # LOG_DIR does not exist yet
    assert [(n, r) for n, _, r in first] == [("ingest", None)]
    assert "ingest: failed: InputError:" in caplog.text
    assert "the scheduler carries on and tries again at the next run" in caplog.text

    write_export(tmp_path / "logs")
    runs = runner.advance_to(utc("2024-05-19T22:29:00Z"))
    names = [(n, w.astimezone(UTC).strftime("%H:%M")) for n, w, _ in runs]
    assert names == [("ingest", "20:30"), ("ingest", "21:30"), ("daily-overdrafts", "22:00"),
                     ("weekly-reconciliation", "22:00")]
    ingest_ok = runs[0][2]
    assert ingest_ok["files_new"] == 1 and ingest_ok["transactions"] > 0
    assert runs[1][2]["files_new"] == 0  # nothing new the next hour
    reports = tmp_path / "reports"
    assert runs[2][2] == [reports / "daily" / "overdrafts-2024-05-20.csv"]
    assert runs[3][2] == [reports / "weekly" / "reconciliation-2024-W20.csv",
                          reports / "weekly" / "reconciliation-2024-W20.html"]
    assert all(p.exists() for p in runs[2][2] + runs[3][2])
    assert "daily-overdrafts 2024-05-20: wrote" in caplog.text
    week = (reports / "weekly" / "reconciliation-2024-W20.csv").read_text().splitlines()
    assert week[0].startswith("week_from,week_to,currency,kind,count_opened")
    assert all(line.startswith("2024-05-13,2024-05-19,") for line in week[1:])


def test_report_job_failure_does_not_stop_ingest(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="balance_logs")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("REPORT_DIR points at a file: every report job fails")
    settings = make(tmp_path, INGEST_EVERY_MINUTES="30", DAILY_REPORT_TIME="01:00", REPORT_DIR=str(blocker))
    write_export(tmp_path / "logs")
    runner = FakeClockRunner(settings, utc("2024-05-19T21:45:00Z"))
    runs = runner.advance_to(utc("2024-05-19T22:20:00Z"))
    assert [(n, r is not None) for n, _, r in runs] == [
        ("ingest", True), ("daily-overdrafts", False), ("weekly-reconciliation", False), ("ingest", True)]
    assert "daily-overdrafts: failed: ReportError: cannot create the output folder" in caplog.text
    assert "Traceback" not in caplog.text  # expected failures are one line each


def test_build_scheduler_registers_three_guarded_jobs(tmp_path):
    settings = make(tmp_path, INGEST_EVERY_MINUTES="5", DAILY_REPORT_TIME="02:15", WEEKLY_REPORT_WEEKDAY="fri")
    sched = schedule.build_scheduler(settings, clock=lambda: utc("2024-01-10T00:00:00Z"))
    by_id = {j.id: j for j in sched.get_jobs()}
    assert set(by_id) == {"ingest", "daily-overdrafts", "weekly-reconciliation"}
    assert isinstance(by_id["ingest"].trigger, IntervalTrigger)
    assert by_id["ingest"].trigger.interval == timedelta(minutes=5)
    daily, weekly = by_id["daily-overdrafts"].trigger, by_id["weekly-reconciliation"].trigger
    assert isinstance(daily, CronTrigger) and str(daily.fields[5]) == "2" and str(daily.fields[6]) == "15"
    assert str(weekly.fields[4]) == "fri"
    assert all(j.max_instances == 1 and j.coalesce for j in by_id.values())


@pytest.mark.parametrize("name, value, message", [
    ("INGEST_EVERY_MINUTES", "0", "INGEST_EVERY_MINUTES='0' is not a whole number of minutes (1 or more)"),
    ("DAILY_REPORT_TIME", "1am", "DAILY_REPORT_TIME='1am' is not a time like 01:00 (24-hour HH:MM, business time)"),
    ("WEEKLY_REPORT_WEEKDAY", "someday",
     "WEEKLY_REPORT_WEEKDAY='someday' is not a weekday; use one of mon, tue, wed, thu, fri, sat, sun"),
])
def test_bad_schedule_settings_are_named(tmp_path, name, value, message):
    with pytest.raises(SettingsError) as err:
        schedule.parse_config(make(tmp_path, **{name: value}))
    assert str(err.value) == message


def test_cli_run_one_job_at_a_given_time(tmp_path, capsys):
    common = ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}", "--log-dir", str(tmp_path / "logs"),
              "--report-dir", str(tmp_path / "reports"), "--business-tz", "+03:00"]
    write_export(tmp_path / "logs")
    assert cli.main(["--run", "ingest", *common]) == 0
    assert cli.main(["--run", "daily-overdrafts", "--at", "2024-05-15T01:00+03:00", *common]) == 0
    assert (tmp_path / "reports" / "daily" / "overdrafts-2024-05-15.csv").exists()
    assert cli.main(["--run", "daily-overdrafts", "--at", "2024-05-15T01:00", *common]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "python -m scheduler: error: --at '2024-05-15T01:00' has no offset; add one, e.g. 2024-05-15T01:00+03:00 "
        "or 2024-05-15T01:00Z")
    assert cli.main(["--run", "weekly-reconciliation", *common[:2], "--business-tz", "+03:00",
                     "--report-dir", str(tmp_path / "r2"), "--at", "2024-05-20T01:00+03:00"]) == 0
    assert (tmp_path / "r2" / "weekly" / "reconciliation-2024-W20.csv").exists()


def test_airflow_dag_file_runs_the_same_jobs():
    """docs/airflow/balance_logs_dag.py compiles, and its commands name real jobs with a time --at accepts."""
    import ast

    from scheduler.jobs import JOBS
    source = (ROOT / "docs" / "airflow" / "balance_logs_dag.py").read_text()
    tree = ast.parse(source)
    jobs = {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run"}
    assert jobs == set(JOBS)
    assert re.search(r"--at '\{\{\{\{ data_interval_end\.isoformat\(\) \}\}\}\}'", source)  # {{ … }} after the f-string
    assert cli._parse_at("2024-01-14T22:00:00+00:00") == utc("2024-01-14T22:00:00Z")  # what Airflow renders


def test_cron_lines_in_the_docs_name_real_jobs():
    from scheduler.jobs import JOBS
    doc = (ROOT / "docs" / "scheduling.md").read_text()
    assert set(re.findall(r"--run ([a-z-]+)", doc)) == set(JOBS)
