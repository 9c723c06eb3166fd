"""`python -m scheduler`: run the jobs on their schedule, or one job once (`--run`, for cron and Airflow)."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timedelta

import pipeline
import reports
from errors import EXIT_FAILURE, EXIT_OK, SettingsError, run_command
from scheduler import jobs, schedule
from settings import add_flags, from_args, read_database_url

PROG = "python -m scheduler"
SETTINGS_USED = tuple(dict.fromkeys(pipeline.SETTINGS_USED + reports.SETTINGS_USED + (
    "INGEST_EVERY_MINUTES", "DAILY_REPORT_TIME", "WEEKLY_REPORT_WEEKDAY")))
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

EPILOG = """examples:
  python -m scheduler                                  run forever (Ctrl-C to stop)
  python -m scheduler --dry-run                        print the runs of the next 8 days
  python -m scheduler --run daily-overdrafts           one job now, as cron would run it
  python -m scheduler --run weekly-reconciliation --at 2024-01-15T01:00+03:00

exit status: 0 ok, 1 the --run job failed, 2 usage error (bad option or setting)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--run", choices=sorted(jobs.JOBS), metavar="JOB",
                      help="run one job once and exit: " + ", ".join(sorted(jobs.JOBS)))
    mode.add_argument("--dry-run", action="store_true", help="print when each job would run, then exit")
    parser.add_argument("--at", metavar="TIME", help="with --run: the job's 'now' (ISO 8601 with offset)")
    parser.add_argument("--log-file", metavar="PATH", help="also append the log to this file")
    add_flags(parser, SETTINGS_USED)  # the jobs ingest, build, alert and write reports
    return parser


def _parse_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"--at {text!r} is not a time; write it like 2024-01-15T01:00+03:00") from None
    if moment.tzinfo is None:
        raise SettingsError(f"--at {text!r} has no offset; add one, e.g. {text}+03:00 or {text}Z")
    return moment


def _logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: _schedule(args))


def _schedule(args) -> int:
    settings = from_args(args)
    schedule.parse_config(settings)
    read_database_url(settings.database_url)  # a URL no job could use is refused now, not at every job
    now = _parse_at(args.at) if args.at else schedule.utc_now()
    _logging(args.log_file)
    if args.run:
        job = next(j for j in schedule.plan(settings, now) if j.name == args.run)
        result = schedule.guarded(job, settings, lambda: now)()
        return EXIT_OK if result is not None else EXIT_FAILURE
    if args.dry_run:
        runner = schedule.FakeClockRunner(settings, now)
        for name, when, _ in runner.advance_to(now + timedelta(days=8), execute=False):
            if name != "ingest" or when < now + timedelta(hours=1):
                print(f"{when.astimezone(settings.business_tz).isoformat(timespec='minutes')}  {name}")
        print(f"(and ingest every {settings['INGEST_EVERY_MINUTES']} minutes)")
        return EXIT_OK
    scheduler = schedule.build_scheduler(settings)
    logging.getLogger("balance_logs.scheduler").info(
        "scheduler: ingest every %s min, daily report at %s, weekly on %s (business time %s); reports in %s",
        settings["INGEST_EVERY_MINUTES"], settings["DAILY_REPORT_TIME"], settings["WEEKLY_REPORT_WEEKDAY"],
        settings["BUSINESS_TZ"], settings["REPORT_DIR"])
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return EXIT_OK


