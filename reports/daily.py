"""Daily overdraft report: one CSV for one business day (new, ongoing and resolved overdrafts)."""
from __future__ import annotations

from pathlib import Path

from reports import queries
from reports.context import Context
from reports.csvfile import write_csv

COLUMNS = ("business_date", "status", "user_id", "currency", "balance", "payment_balance", "expected_balance",
           "overdraft_amount", "overdraft_reason", "overdrawn_since", "count_overdraft_transactions",
           "last_transaction_id", "last_transaction_at")


def file_name(business_date: str) -> str:
    return f"overdrafts-{business_date}.csv"


def write(ctx: Context, business_date: str) -> list[Path]:
    rows = queries.daily_overdrafts(ctx.engine, business_date, ctx.filters.currency)
    path = ctx.out_dir / file_name(business_date)
    write_csv(path, COLUMNS, (ctx.csv_row(r, COLUMNS) for r in rows))
    return [path]
