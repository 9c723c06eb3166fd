"""Weekly reconciliation summary: per currency and kind, issues opened, resolved and still open at the week's end.

Written as a CSV (the numbers) and a short self-contained HTML page (the same
numbers, formatted, with a sentence on how each is counted).
"""
from __future__ import annotations

from pathlib import Path

from reports import queries, render
from reports.columns import COLUMNS as COLS
from reports.context import Context
from reports.csvfile import write_csv
from reports.periods import day_start_utc, next_day, week_label

COLUMNS = ("week_from", "week_to", "currency", "kind", "count_opened", "amount_opened", "count_resolved",
           "amount_resolved", "count_still_open", "amount_still_open", "is_partial_week")


def rows(ctx: Context, monday: str, sunday: str) -> list[dict]:
    tz = ctx.settings.business_tz
    return queries.weekly_reconciliation(ctx.engine, monday, sunday, day_start_utc(monday, tz),
                                         day_start_utc(next_day(sunday), tz), ctx.filters.currency)


def write(ctx: Context, monday: str, sunday: str) -> list[Path]:
    data = rows(ctx, monday, sunday)
    label = week_label(monday)
    csv_path = ctx.out_dir / f"reconciliation-{label}.csv"
    write_csv(csv_path, COLUMNS, (ctx.csv_row(r, COLUMNS) for r in data))
    html_path = ctx.out_dir / f"reconciliation-{label}.html"
    table = [{**r, **{c: ctx.money(r[c], r["currency"]) for c in COLUMNS if COLS[c].kind == "money"}}
             for r in data]
    partial = any(r["is_partial_week"] for r in data) or not queries.covers(ctx.engine, monday, sunday)
    first, last = queries.business_date_range(ctx.engine)
    covered = None  # the days of the week the data has, when it has any
    if first and last and first <= sunday and last >= monday:
        covered = (max(first, monday), min(last, sunday))
    html = render.page("weekly.html.j2", week=label, monday=monday, sunday=sunday, rows=table, partial=partial,
                       covered=covered, meanings={c: COLS[c].meaning for c in COLUMNS}, ctx=ctx)
    html_path.write_text(html, encoding="utf-8")
    return [csv_path, html_path]
