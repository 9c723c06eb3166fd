"""Reconciliation: the mismatched balances of `discrepancy_report`.

`discrepancies()` is the one query behind the grid, the Export CSV and the
reports' sheet: same filters, same columns, same order.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import (DISCREPANCY_KINDS, DISCREPANCY_STATUSES, Filters, as_int, discrepancy_report, fetch, in_range,
                          one_of, standard)
from queries.cache import cached
from queries.paging import Col, TableQuery, all_rows
from queries.reviews import REVIEW_COLS, with_latest_review

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


def _reviewed(filters: Filters, kind: str | None = None, status: str | None = None, review: str | None = None):
    return with_latest_review(_select(filters, kind, status), "discrepancy", review)


DISCREPANCIES = TableQuery(
    name="discrepancies",
    build=_reviewed,
    params=("kind", "status", "review"),
    columns=(Col("discrepancy_id", "int"), Col("kind"), Col("status"), Col("business_date", "date"),
             Col("detected_at", "ts"), Col("user_id"), Col("currency"), Col("transaction_id"),
             Col("subscription_balance", "money"), Col("payment_balance", "money"), Col("difference", "money"),
             Col("amount_at_stake", "money"), Col("explanation"), Col("first_seen_at", "ts"),
             Col("last_seen_at", "ts"), Col("resolved_at", "ts"), Col("file"), Col("line_no", "int"),
             Col("event_id", "int"), *REVIEW_COLS),
    key=("discrepancy_id",),
    default_sort=(("business_date", "desc"), ("detected_at", "desc")),
    needs=("discrepancy_report", "ingested_files", "reviews"),
)


def discrepancies(engine: Engine, filters: Filters = Filters(), kind: str | None = None, status: str | None = None,
                  limit: int | None = None, sort_model=None, filter_model=None,
                  review: str | None = None) -> list[dict]:
    """Discrepancies matching the filters, newest business day first (money in micro-units, one currency per
    row), each with its latest review."""
    return list(all_rows(engine, DISCREPANCIES, filters, limit=limit, kind=kind, status=status, review=review,
                         sort_model=sort_model, filter_model=filter_model))


def stake_by_currency(engine: Engine, filters: Filters = Filters(), kind: str | None = None,
                      status: str | None = None) -> list[dict]:
    """Per currency and kind: count, open count and amount at stake (micro-units). Never summed across currencies.

    Without a user search this reads the daily roll-up (one scan of discrepancy_report per data version);
    a user search needs the rows themselves.
    """
    kind, status = one_of(kind, DISCREPANCY_KINDS), one_of(status, DISCREPANCY_STATUSES)
    if filters.user:
        return _stake_by_currency_sql(engine, filters, kind, status)
    out: dict[tuple, dict] = {}
    for r in _daily_rollup(engine):
        if (not in_range(r["business_date"], filters) or (filters.currency and r["currency"] != filters.currency)
                or (kind and r["kind"] != kind) or (status and r["status"] != status)):
            continue
        row = out.setdefault((r["currency"] or "", r["kind"]), {"currency": r["currency"], "kind": r["kind"],
                                                                "count_discrepancies": 0, "count_open": 0,
                                                                "amount_at_stake": 0})
        row["count_discrepancies"] += r["n"]
        row["count_open"] += r["n"] if r["status"] == "open" else 0
        row["amount_at_stake"] += r["stake"]
    return [out[k] for k in sorted(out)]


@cached(copy=False)
def _daily_rollup(engine: Engine) -> list[dict]:
    d = discrepancy_report.c
    stmt = (select(d.business_date, d.currency, d.kind, d.status, func.count().label("n"),
                   func.sum(d.amount_at_stake).label("stake"))
            .group_by(d.business_date, d.currency, d.kind, d.status))
    return [{**r, "n": as_int(r["n"]), "stake": as_int(r["stake"])}
            for r in fetch(engine, stmt, ["discrepancy_report"])]


@cached
def _stake_by_currency_sql(engine: Engine, filters: Filters, kind: str | None, status: str | None) -> list[dict]:
    d = discrepancy_report.c
    stmt = (select(d.currency, d.kind, func.count().label("count_discrepancies"),
                   func.count().filter(d.status == "open").label("count_open"),
                   func.sum(d.amount_at_stake).label("amount_at_stake"))
            .where(*_where(filters, kind, status)).group_by(d.currency, d.kind).order_by(d.currency, d.kind))
    return [{"currency": r["currency"], "kind": r["kind"], "count_discrepancies": as_int(r["count_discrepancies"]),
             "count_open": as_int(r["count_open"]), "amount_at_stake": as_int(r["amount_at_stake"])}
            for r in fetch(engine, stmt, ["discrepancy_report"])]
