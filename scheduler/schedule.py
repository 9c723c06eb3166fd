"""When each job runs, as APScheduler triggers built from the settings, and the guard that keeps it going.

- ingest: every INGEST_EVERY_MINUTES, and once at start.
- daily-overdrafts: every day at DAILY_REPORT_TIME, business time (after the
  nightly batch, which the Lambda runs just after midnight business time).
- weekly-reconciliation: on WEEKLY_REPORT_WEEKDAY at DAILY_REPORT_TIME, for
  the previous week.

Every job runs inside `guarded`: an exception is logged with its traceback and
swallowed, so a failing job never stops the scheduler or the other jobs; the
next run of the same job is tried as usual.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError

from errors import BalanceLogsError, SettingsError, first_line
from scheduler import jobs
from settings import Settings

log = logging.getLogger("balance_logs.scheduler")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MISFIRE_GRACE_SECONDS = 3600  # a job missed while the machine slept still runs if it is less than an hour late

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclasses.dataclass(frozen=True)
class ScheduledJob:
    name: str
    func: Callable[[Settings, datetime], object]
    trigger: BaseTrigger


def parse_config(settings: Settings) -> tuple[int, int, int, str]:
    """(every minutes, hour, minute, weekday) from the settings; SettingsError names the bad one."""
    every = settings.get("INGEST_EVERY_MINUTES") or ""
    if not every.strip().isdigit() or int(every) < 1:
        raise SettingsError(f"INGEST_EVERY_MINUTES={every!r} is not a whole number of minutes (1 or more)")
    match = _TIME.match((settings.get("DAILY_REPORT_TIME") or "").strip())
    if not match:
        raise SettingsError(f"DAILY_REPORT_TIME={settings.get('DAILY_REPORT_TIME')!r} is not a time like 01:00 "
                            "(24-hour HH:MM, business time)")
    weekday = (settings.get("WEEKLY_REPORT_WEEKDAY") or "").strip().lower()[:3]
    if weekday not in WEEKDAYS:
        raise SettingsError(f"WEEKLY_REPORT_WEEKDAY={settings.get('WEEKLY_REPORT_WEEKDAY')!r} is not a weekday; "
                            "use one of " + ", ".join(WEEKDAYS))
    return int(every), int(match[1]), int(match[2]), weekday


def plan(settings: Settings, start: datetime) -> list[ScheduledJob]:
    """The three jobs with their triggers; `start` is when the interval job first runs."""
    every, hour, minute, weekday = parse_config(settings)
    tz = settings.business_tz
    return [
        ScheduledJob("ingest", jobs.ingest, IntervalTrigger(minutes=every, start_date=start, timezone=timezone.utc)),
        ScheduledJob("daily-overdrafts", jobs.daily_overdrafts, CronTrigger(hour=hour, minute=minute, timezone=tz)),
        ScheduledJob("weekly-reconciliation", jobs.weekly_reconciliation,
                     CronTrigger(day_of_week=weekday, hour=hour, minute=minute, timezone=tz)),
    ]


def guarded(job: ScheduledJob, settings: Settings, clock: Clock) -> Callable[[], object]:
    """The job as APScheduler calls it: with `now` from the clock, and never raising."""
    def run():
        now = clock()
        log.info("%s: starting (%s)", job.name, now.astimezone(timezone.utc).isoformat(timespec="seconds"))
        try:
            return job.func(settings, now)
        except Exception as exc:
            # Known failures (missing folder, no data yet, database down) get one line; anything else a traceback.
            report = log.error if isinstance(exc, (BalanceLogsError, OperationalError)) else log.exception
            report("%s: failed: %s: %s; the scheduler carries on and tries again at the next run",
                   job.name, exc.__class__.__name__, first_line(exc))
            return None
    run.__name__ = f"guarded_{job.name.replace('-', '_')}"
    return run


def build_scheduler(settings: Settings, clock: Clock = utc_now) -> BlockingScheduler:
    """A BlockingScheduler with the three jobs: one instance of each at a time, missed runs coalesced."""
    scheduler = BlockingScheduler(timezone=timezone.utc)
    for job in plan(settings, clock()):
        scheduler.add_job(guarded(job, settings, clock), job.trigger, id=job.name, name=job.name,
                          max_instances=1, coalesce=True, misfire_grace_time=MISFIRE_GRACE_SECONDS)
    return scheduler


class FakeClockRunner:
    """Runs the planned jobs against a clock you move by hand: what APScheduler would do, without waiting.

    Each `advance_to(t)` runs, in time order, every job whose next fire time is
    at or before `t`, with the clock set to that fire time. Tests use it; so
    does `python -m scheduler --dry-run` to print the coming runs.
    """

    def __init__(self, settings: Settings, start: datetime):
        self.settings, self.now = settings, start
        self.jobs = plan(settings, start)
        self.next = {j.name: j.trigger.get_next_fire_time(None, start) for j in self.jobs}
        self.runs: list[tuple[str, datetime, object]] = []

    def clock(self) -> datetime:
        return self.now

    def advance_to(self, until: datetime, execute: bool = True) -> list[tuple[str, datetime, object]]:
        done = []
        by_name = {j.name: j for j in self.jobs}
        while True:
            name, when = min(((n, t) for n, t in self.next.items() if t is not None), key=lambda nt: (nt[1], nt[0]),
                             default=(None, None))
            if when is None or when > until:
                break
            self.now = when
            job = by_name[name]
            result = guarded(job, self.settings, self.clock)() if execute else None
            done.append((name, when, result))
            self.next[name] = job.trigger.get_next_fire_time(when, when + timedelta(microseconds=1))
        self.now = until
        self.runs += done
        return done
