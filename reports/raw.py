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
    rows = (ctx.private(dict(zip(names, r))) for r in queries.parsed_events(ctx.engine, ctx.filters))
    write_csv(path, names, ([r[n] for n in names] for r in rows))
    return [path]
