"""Reconciliation: the mismatched balances of `discrepancy_report`.

`discrepancies()` is the one query behind the grid, the Export CSV and the
reports' sheet: same filters, same columns, same order.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.queries.base import (DISCREPANCY_KINDS, DISCREPANCY_STATUSES, Filters, as_int, discrepancy_report, fetch,
                              one_of, standard)
from app.queries.cache import cached
from app.queries.paging import Col, TableQuery, all_rows
from db import schema as s

files = s.ingested_files


def _where(filters: Filters, kind: str | None, status: str | None) -> list:
    d = discrepancy_report.c
    conds = standard(d, filters)
    if one_of(kind, DISCREPANCY_KINDS):
        conds.append(d.kind == kind)
    if one_of(status, DISCREPANCY_STATUSES):
        conds.append(d.status == status)
    return conds


def _select(filters: Filters, kind: str | None = None, status: str | None = None):
    d = discrepancy_report.c
    return (select(d.discrepancy_id, d.kind, d.status, d.business_date, d.detected_at, d.user_id, d.currency,
                   d.transaction_id, d.subscription_balance, d.payment_balance, d.difference, d.amount_at_stake,
                   d.explanation, d.first_seen_at, d.last_seen_at, d.resolved_at, files.c.path.label("file"),
                   d.line_no, d.event_id)
            .select_from(discrepancy_report.outerjoin(files, files.c.file_id == d.file_id))
            .where(*_where(filters, kind, status)))


DISCREPANCIES = TableQuery(
    name="discrepancies",
    build=_select,
    params=("kind", "status"),
    columns=(Col("discrepancy_id", "int"), Col("kind"), Col("status"), Col("business_date", "date"),
             Col("detected_at", "ts"), Col("user_id"), Col("currency"), Col("transaction_id"),
             Col("subscription_balance", "money"), Col("payment_balance", "money"), Col("difference", "money"),
             Col("amount_at_stake", "money"), Col("explanation"), Col("first_seen_at", "ts"),
             Col("last_seen_at", "ts"), Col("resolved_at", "ts"), Col("file"), Col("line_no", "int"),
             Col("event_id", "int")),
    key=("discrepancy_id",),
    default_sort=(("business_date", "desc"), ("detected_at", "desc")),
    needs=("discrepancy_report", "ingested_files"),
)


def discrepancies(engine: Engine, filters: Filters = Filters(), kind: str | None = None, status: str | None = None,
                  limit: int | None = None, sort_model=None, filter_model=None) -> list[dict]:
    """Discrepancies matching the filters, newest business day first (money in micro-units, one currency per
    row)."""
    return list(all_rows(engine, DISCREPANCIES, filters, limit=limit, kind=kind, status=status,
                         sort_model=sort_model, filter_model=filter_model))


@cached
def stake_by_currency(engine: Engine, filters: Filters = Filters(), kind: str | None = None,
                      status: str | None = None) -> list[dict]:
    """Per currency and kind: count, open count and amount at stake (micro-units). Never summed across currencies."""
    d = discrepancy_report.c
    stmt = (select(d.currency, d.kind, func.count().label("count_discrepancies"),
                   func.count().filter(d.status == "open").label("count_open"),
                   func.sum(d.amount_at_stake).label("amount_at_stake"))
            .where(*_where(filters, kind, status)).group_by(d.currency, d.kind).order_by(d.currency, d.kind))
    return [{"currency": r["currency"], "kind": r["kind"], "count_discrepancies": as_int(r["count_discrepancies"]),
             "count_open": as_int(r["count_open"]), "amount_at_stake": as_int(r["amount_at_stake"])}
            for r in fetch(engine, stmt, ["discrepancy_report"])]
