"""The scheduled jobs: plain functions of (settings, now) that return what they did.

`now` is an aware datetime handed in by the caller (APScheduler at run time,
a fake clock in tests, `--run` from cron), so every job is reproducible: the
daily report of a given instant is always the same file for the same data.
"""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pipeline
from db.engine import make_engine
from errors import BusyError
from reports import build
from reports.periods import business_today, previous_week
from settings import Settings

log = logging.getLogger("balance_logs.scheduler")

DAILY_FOLDER = "daily"
WEEKLY_FOLDER = "weekly"


def ingest(settings: Settings, now: datetime) -> dict:
    """Ingest LOG_SOURCE (a folder, an s3:// URL or a log group; new logs only), rebuild the derived tables and
    send new alerts (pipeline.run)."""
    paths, read = pipeline.what_to_read(settings)
    try:
        summary = pipeline.run(paths, settings, wait=False, read=read)
    except BusyError:
        log.info("ingest: skipped, another ingest is running on this database")
        return {"status": "busy"}
    result = {"status": summary.status, "files_new": summary.files_new, "transactions": summary.transactions,
              "problems": len(summary.problems), "seconds": summary.seconds}
    alerts = summary.alerts or {}
    result["alerts"] = alerts.get("status", "off")
    log.info("ingest: %s, %d new file(s), %d new transaction(s), %d problem(s) in %.1fs; alerts: %s",
             result["status"], result["files_new"], result["transactions"], result["problems"], result["seconds"],
             result["alerts"])
    return result


def _build(kind: str, settings: Settings, folder: str, **opts) -> list[Path]:
    engine = make_engine(settings.database_url, readonly=True)
    try:
        return build(kind, engine, settings, Path(settings["REPORT_DIR"]) / folder, **opts)
    finally:
        engine.dispose()


def daily_overdrafts(settings: Settings, now: datetime) -> list[Path]:
    """The overdraft report of the business day that `now` falls in (run after the nightly batch)."""
    day = business_today(now, settings.business_tz).isoformat()
    paths = _build("daily-overdrafts", settings, DAILY_FOLDER, date=day)
    log.info("daily-overdrafts %s: wrote %s", day, ", ".join(str(p) for p in paths))
    return paths


def weekly_reconciliation(settings: Settings, now: datetime) -> list[Path]:
    """The reconciliation summary of the last complete Monday-to-Sunday week before `now` (business time)."""
    monday, _ = previous_week(business_today(now, settings.business_tz))
    paths = _build("weekly-reconciliation", settings, WEEKLY_FOLDER, week=monday)
    log.info("weekly-reconciliation from %s: wrote %s", monday, ", ".join(str(p) for p in paths))
    return paths


JOBS = {"ingest": ingest, "daily-overdrafts": daily_overdrafts, "weekly-reconciliation": weekly_reconciliation}
