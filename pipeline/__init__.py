"""The run sequence: ingest new logs, then rebuild the derived tables, then alert.

`ingest.py` and the scheduler's ingest job both call `run()`. It sits above ingest/, transform/ and
alerts/, so none of them needs to know about the others: ingest stores what the logs say, transform
derives from the ingest tables, alerts reads the derived tables.
"""
from __future__ import annotations

from sqlalchemy.engine import Engine

import alerts
from db import indexes
from errors import SettingsError
from ingest import SETTINGS_USED as INGEST_SETTINGS
from ingest.run import ProgressFn, Summary, open_run
from ingest.sources import log_group_of
from ingest.sources.logs import LogGroupRead
from settings import Settings
from transform import build_all, is_current
from transform.params import SETTINGS_USED as TRANSFORM_SETTINGS

__all__ = ["SETTINGS_USED", "LogGroupRead", "Summary", "build", "run", "what_to_read"]

SETTINGS_USED = tuple(dict.fromkeys(INGEST_SETTINGS + TRANSFORM_SETTINGS + alerts.SETTINGS_USED))


def run(paths: list[str], settings: Settings, *, full_refresh: bool = False, transform: bool = True,
        wait: bool = True, progress: ProgressFn | None = None, workers: int | None = None,
        read: LogGroupRead | None = None) -> Summary:
    """Ingest `paths` (folders, files, s3:// URLs), or the log group of `read` through the CloudWatch Logs API;
    unless `transform` is False, rebuild what changed and send new alerts, all under the ingest lock and
    recorded in the run's summary."""
    with open_run(paths, settings, full_refresh=full_refresh, wait=wait, read=read) as current:
        current.load(progress=progress, workers=workers)
        if transform:
            current.summary.transform = build(current.engine, settings)
            current.summary.alerts = alerts.send_new(current.engine, settings)  # never raises
    return current.summary


def build(engine: Engine, settings: Settings) -> dict:
    """Rebuild the derived tables unless the last build was made from the same data and settings."""
    if is_current(engine, settings):
        return {"skipped": "current"}
    # the indexes a bulk load dropped are rebuilt inside the build, on SQLite beside its other lane
    return build_all(engine, settings, alongside=indexes.create_missing)


def what_to_read(settings: Settings) -> tuple[list[str], LogGroupRead | None]:
    """(paths, log group read) of the LOG_SOURCE setting (LOG_DIR when it is empty): a folder or file, an s3://
    URL, or log-group:NAME."""
    source = settings.log_source
    group = log_group_of(source)
    if group is not None:
        if not group.strip():
            raise SettingsError(f"LOG_SOURCE={source!r} names no log group; write it like log-group:/aws/lambda/NAME")
        return [], LogGroupRead(group.strip())
    return [source], None
