"""`--raw-csv`: every parsed log event of the period, one line each, for auditors (streamed)."""
from __future__ import annotations

from pathlib import Path

from reports import queries
from reports.context import Context
from reports.csvfile import write_csv

FILE_NAME = "events.csv"


def write(ctx: Context) -> list[Path]:
    names = queries.PARSED_EVENT_COLUMNS
    path = ctx.out_dir / FILE_NAME
    rows = queries.parsed_events(ctx.engine, ctx.filters)
    if ctx.pseudonymise:  # user ids out of their column and out of the raw text and payload
        rows = ([r[n] for n in names] for r in (ctx.private(dict(zip(names, row))) for row in rows))
    write_csv(path, names, rows)
    return [path]
