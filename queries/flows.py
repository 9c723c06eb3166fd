"""Money flows per day from `daily_flows`: credit vs debit, KPIs, volume by source and action.

Money is summed per currency only; counts may be added across currencies. Each result is cached per version of
the data (queries/cache.py): every reader of a view shares it.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from queries.base import Filters, as_int, currency_is, daily_flows, date_range, fetch
from queries.cache import cached

GRANULARITIES = ("day", "week", "month")


def bucket(day: str, by: str) -> str:
    """The first business date of the day's period: itself, its ISO week's Monday, or its month's 1st."""
    if by == "week":
        d = date.fromisoformat(day)
        return (d - timedelta(days=d.weekday())).isoformat()
    if by == "month":
        return day[:8] + "01"
    return day


def _where(filters: Filters) -> list:
    f = daily_flows.c
    return date_range(f.business_date, filters) + currency_is(f.currency, filters)


@cached
def flow_series(engine: Engine, filters: Filters, by: str = "day") -> list[dict]:
    """Per period, currency and direction: count, gross amount, VAT and net (micro-units), oldest first."""
    f = daily_flows.c
    stmt = (select(f.business_date.label("period"), f.currency, f.type,
                   func.sum(f.count_transactions).label("count_transactions"),
                   func.sum(f.total_amount).label("total_amount"), func.sum(f.total_vat).label("total_vat"),
                   func.sum(f.total_net).label("total_net"))
            .where(*_where(filters)).group_by(f.business_date, f.currency, f.type))
    return regroup(fetch(engine, stmt, ["daily_flows"]), by)


def regroup(rows: list[dict], by: str) -> list[dict]:
    """flow_series rows summed into weeks or months (`period` becomes the period's first day)."""
    by = by if by in GRANULARITIES else "day"
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (bucket(r["period"], by), r["currency"], r["type"] or "UNKNOWN")
        row = out.setdefault(key, {"period": key[0], "currency": key[1], "type": key[2], "count_transactions": 0,
                                   "total_amount": 0, "total_vat": 0, "total_net": 0})
        for name in ("count_transactions", "total_amount", "total_vat", "total_net"):
            row[name] += as_int(r[name])
    return [out[k] for k in sorted(out)]


@cached
def flow_totals(engine: Engine, filters: Filters) -> list[dict]:
    """One row per currency: counts, credit and debit totals (gross), VAT (in all, on credits, on debits) and the
    net balance change: (credits − their VAT) − (debits − their VAT)."""
    f = daily_flows.c
    stmt = (select(f.currency, f.type, func.sum(f.count_transactions).label("n"),
                   func.sum(f.total_amount).label("amount"), func.sum(f.total_vat).label("vat"),
                   func.sum(f.total_net).label("net"))
            .where(*_where(filters)).group_by(f.currency, f.type))
    per: dict[str, dict] = defaultdict(lambda: {"count_transactions": 0, "count_credits": 0, "count_debits": 0,
                                                "total_credit": 0, "total_debit": 0, "total_vat": 0,
                                                "vat_credit": 0, "vat_debit": 0, "net_change": 0})
    for r in fetch(engine, stmt, ["daily_flows"]):
        row = per[r["currency"]]
        n, amount, vat, net = as_int(r["n"]), as_int(r["amount"]), as_int(r["vat"]), as_int(r["net"])
        row["count_transactions"] += n
        row["total_vat"] += vat
        if r["type"] == "CREDIT":
            row["count_credits"] += n
            row["total_credit"] += amount
            row["vat_credit"] += vat
            row["net_change"] += net
        elif r["type"] == "DEBIT":
            row["count_debits"] += n
            row["total_debit"] += amount
            row["vat_debit"] += vat
            row["net_change"] -= net
    return [{"currency": c, **per[c]} for c in sorted(per, key=lambda c: c or "")]


@cached
def volume_by_source_action(engine: Engine, filters: Filters) -> list[dict]:
    """Per source, action and currency: transaction count and gross amount, largest count first."""
    f = daily_flows.c
    n = func.sum(f.count_transactions)
    stmt = (select(f.source, f.action, f.currency, n.label("count_transactions"),
                   func.sum(f.total_amount).label("total_amount"))
            .where(*_where(filters)).group_by(f.source, f.action, f.currency).order_by(n.desc()))
    return [{**r, "source": r["source"] or "(not logged)",
             "action": r["action"] or "(not logged)",
             "count_transactions": as_int(r["count_transactions"]), "total_amount": as_int(r["total_amount"])}
            for r in fetch(engine, stmt, ["daily_flows"])]


@cached
def transactions_per_day(engine: Engine, filters: Filters) -> list[dict]:
    """Per business date: transaction count (all currencies of the filter together: counts, not money)."""
    f = daily_flows.c
    stmt = (select(f.business_date, func.sum(f.count_transactions).label("count_transactions"))
            .where(*_where(filters)).group_by(f.business_date).order_by(f.business_date))
    return [{"business_date": r["business_date"], "count_transactions": as_int(r["count_transactions"])}
            for r in fetch(engine, stmt, ["daily_flows"])]
