"""Reports accountants can open, archive and mail: `reports.build(kind, engine, settings, out_dir, **opts)`.

Kinds (the CLI `python -m reports KIND` mirrors this one function):

- `html`: report.html, one self-contained page (cards, charts, key tables).
- `excel`: report.xlsx (Summary, Exposure, Ledger, Reconciliation, ByUser,
  BySource, Overdrafts, Anomalies, README).
- `daily-overdrafts`: overdrafts-YYYY-MM-DD.csv for one business day.
- `weekly-reconciliation`: reconciliation-YYYY-Www.csv and .html for one week.
- `all`: every one of the above.

Options: date_from/date_to (business dates, html and excel), date (daily),
week (weekly), currency, columns (Ledger preset or JSON file), raw_csv (also
write events.csv with every parsed event), pseudonymise. See docs/reports.md.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from db.engine import make_engine
from db.migrate import HEAD_REVISION, current_revision
from errors import ReportError, UsageError
from reports import daily, parallel, raw, weekly
from reports.columns import ledger_columns
from reports.context import Context
from reports.periods import parse_date, parse_week
from reports.queries import business_date_range, make_filters
from settings import Settings

__all__ = ["KINDS", "SETTINGS_USED", "ReportError", "UsageError", "build"]

SETTINGS_USED = ("DATABASE_URL", "REPORT_DIR", "BUSINESS_TZ", "CURRENCY_PRECISION", "BALANCE_TOLERANCE",
                 "PSEUDONYMISE_KEY")

log = logging.getLogger("balance_logs.reports")

KINDS = ("html", "excel", "daily-overdrafts", "weekly-reconciliation", "all")

# What each kind reads; a missing table means nothing was ingested or the transforms have not run.
NEEDS = {
    "html": ("balance_events", "daily_flows", "user_balances", "discrepancy_report", "balance_rollforward", "anomalies",
             "daily_health", "reviews"),
    "excel": ("balance_events", "daily_flows", "user_balances", "discrepancy_report", "balance_rollforward",
              "anomalies", "reviews"),
    "daily-overdrafts": ("balance_events",),
    "weekly-reconciliation": ("discrepancy_report", "discrepancy_transactions"),
    "raw-csv": ("parsed_logs", "file_event_counts"),
}


def build(kind: str, engine: Engine, settings: Settings, out_dir: str | Path, *, date_from: str | None = None,
          date_to: str | None = None, date: str | None = None, week: str | None = None,
          currency: str | None = None, columns: str | None = None, raw_csv: bool = False,
          pseudonymise: bool = False, max_rows: int | None = None, workers: int | None = None) -> list[Path]:
    """Write the report(s) of `kind` into out_dir and return the files written, in order.

    Independent pieces (the workbook's sheets, the other reports of `all`) run side by side in up to
    `workers` processes (default: one per core, at most 4; 1 runs everything in this process).
    """
    if kind not in KINDS:
        raise UsageError(f"unknown report {kind!r}; choose one of: {', '.join(KINDS)}")
    filters = make_filters(parse_date(date_from, "--from") if date_from else None,
                           parse_date(date_to, "--to") if date_to else None,
                           _currency(currency))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise UsageError(f"--from {filters.date_from_text} is after --to {filters.date_to_text}; swap them")
    if columns is not None:
        ledger_columns(columns)  # a bad --columns is a usage error before anything is written
    kinds = ("html", "excel", "daily-overdrafts", "weekly-reconciliation") if kind == "all" else (kind,)
    _require(engine, kinds + (("raw-csv",) if raw_csv else ()))
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the output folder {out}: {exc.strerror}; pass --out with a "
                          "writable folder") from None
    ctx = Context(engine=engine, settings=settings, out_dir=out, filters=filters, pseudonymise=pseudonymise)
    jobs = [_KindJob(k, settings, out, filters, pseudonymise, ctx.generated_at,
                     _day(engine, filters, date) if k == "daily-overdrafts" else None,
                     _week(engine, filters, week) if k == "weekly-reconciliation" else None)
            for k in kinds + (("raw-csv",) if raw_csv else ()) if k != "excel"]
    done: dict[str, list[Path]] = {}
    with parallel.executor(workers if "excel" in kinds or len(jobs) > 1 else 1) as pool:
        futures = {}

        def queue_jobs():
            futures.update((job.kind, pool.submit(write_kind, job)) for job in jobs)

        if "excel" in kinds:  # its sheets go first: they are the long jobs; the rest queue behind them
            from reports import excel  # the spreadsheet libraries only for a workbook
            done["excel"] = excel.write(ctx, columns, pool=pool, after_submit=queue_jobs,
                                        **({"max_rows": max_rows} if max_rows else {}))
        else:
            queue_jobs()
        done.update((k, f.result()) for k, f in futures.items())
    written = [p for k in kinds + (("raw-csv",) if raw_csv else ()) for p in done[k]]
    for path in written:
        log.info("wrote %s", path)
    return written


@dataclasses.dataclass(frozen=True)
class _KindJob:
    """One report other than the workbook, as a picklable job for a worker process."""
    kind: str
    settings: Settings
    out_dir: Path
    filters: object
    pseudonymise: bool
    generated_at: datetime
    day: str | None = None
    week: tuple[str, str] | None = None


def write_kind(job: _KindJob) -> list[Path]:
    """Write one report with its own engine (runs in a worker process, or inline)."""
    engine = make_engine(job.settings.database_url, readonly=True)
    try:
        ctx = Context(engine=engine, settings=job.settings, out_dir=job.out_dir, filters=job.filters,
                      pseudonymise=job.pseudonymise, generated_at=job.generated_at)
        if job.kind == "html":
            from reports import html  # plotly only for the HTML report
            return html.write(ctx)
        if job.kind == "daily-overdrafts":
            return daily.write(ctx, job.day)
        if job.kind == "weekly-reconciliation":
            return weekly.write(ctx, *job.week)
        return raw.write(ctx)
    finally:
        engine.dispose()


def _day(engine: Engine, filters, date: str | None) -> str:
    return parse_date(date) if date else _latest_date(engine, filters)


def _week(engine: Engine, filters, week: str | None) -> tuple[str, str]:
    return parse_week(week) if week else parse_week(_latest_date(engine, filters))


def _latest_date(engine: Engine, filters) -> str:
    """Default day for the daily and weekly reports: --to when given, else the last business date ingested."""
    if filters.date_to:
        return filters.date_to_text
    last = business_date_range(engine)[1]
    if last is None:
        raise ReportError("the database has no transactions yet; run ingest.py first, or pass --date / --week")
    return last


def _currency(text: str | None) -> str | None:
    if not text:
        return None
    code = text.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise UsageError(f"--currency {text!r} is not a currency code; write three letters like BHD or SAR")
    return code


def _require(engine: Engine, kinds: tuple[str, ...]) -> None:
    try:
        present = set(inspect(engine).get_table_names())
    except Exception as exc:  # unreachable server, unreadable file
        raise ReportError(f"cannot open the database: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    missing = sorted({t for k in kinds for t in NEEDS[k]} - present)
    if missing:
        raise ReportError(f"the database lacks {', '.join(missing)}: run ingest.py (it builds the derived tables "
                          "at the end) before writing reports")
    revision = current_revision(engine)
    if revision is not None and revision < HEAD_REVISION:  # revisions are zero-padded numbers
        raise ReportError(f"the database's schema is at revision {revision}, older than this version's "
                          f"{HEAD_REVISION}: run ingest.py (it upgrades the schema) before writing reports")
