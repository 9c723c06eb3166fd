"""Reconciliation: the issues of `discrepancy_report`, the transactions behind them, exposure and roll-forward.

Grain: `discrepancies()` returns one row per issue (an out_of_sync episode, a calculation or continuity break,
an untied error): the grid, the Export CSV and the reports' sheet read it, with the same filters, columns and
order. `discrepancy_transactions()` returns one row per transaction of the filtered issues' episodes (the second
export). `exposure()` sums open out_of_sync episodes per currency: each out-of-sync user's current gap, once.
The date filter applies to the day an issue was first seen.
"""
from __future__ import annotations

import dataclasses
from datetime import date

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import (DISCREPANCY_KINDS, DISCREPANCY_STATUSES, Filters, as_int, connect, fetch, one_of,
                          parse_date, require, rows, source_file, standard)
from queries.cache import cached
from queries.paging import Col, TableQuery, all_rows
from queries.reviews import REVIEW_COLS, with_latest_review
from queries.tables import balance_rollforward, daily_flows, discrepancy_report, discrepancy_transactions

files = s.ingested_files
# ageing of open episodes, in days since first seen: (label, lowest, highest or None)
AGE_BUCKETS = (("0–7 days", 0, 7), ("8–30 days", 8, 30), ("31–90 days", 31, 90), ("over 90 days", 91, None))


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
    return (select(d.discrepancy_id, d.kind, d.status, d.business_date, d.first_seen_at, d.user_id, d.currency,
                   d.amount_at_stake, d.current_gap, d.opening_gap, d.max_abs_gap, d.subscription_balance,
                   d.payment_balance, d.expected_balance, d.count_transactions, d.count_lambda_errors, d.age_days,
                   d.first_transaction_id, d.last_transaction_id, d.resolving_transaction_id, d.last_seen_at,
                   d.resolved_at, d.explanation, source_file(), d.line_no)
            .select_from(discrepancy_report.outerjoin(files, files.c.file_id == d.file_id))
            .where(*_where(filters, kind, status)))


def _reviewed(filters: Filters, kind: str | None = None, status: str | None = None, review: str | None = None):
    return with_latest_review(_select(filters, kind, status), "discrepancy", review)


DISCREPANCIES = TableQuery(
    name="discrepancies",
    build=_reviewed,
    params=("kind", "status", "review"),
    columns=(Col("discrepancy_id"), Col("kind"), Col("status"), Col("business_date", "date"),
             Col("first_seen_at", "ts"), Col("user_id"), Col("currency"), Col("amount_at_stake", "money"),
             Col("current_gap", "money"), Col("opening_gap", "money"), Col("max_abs_gap", "money"),
             Col("subscription_balance", "money"), Col("payment_balance", "money"),
             Col("expected_balance", "money"), Col("count_transactions", "int"), Col("count_lambda_errors", "int"),
             Col("age_days", "int"), Col("first_transaction_id"), Col("last_transaction_id"),
             Col("resolving_transaction_id"), Col("last_seen_at", "ts"), Col("resolved_at", "ts"),
             Col("explanation"), Col("file"), Col("line_no", "int"), *REVIEW_COLS),
    key=("discrepancy_id",),
    default_sort=(("business_date", "desc"), ("first_seen_at", "desc"), ("discrepancy_id", "asc")),
    needs=("discrepancy_report", "ingested_files", "reviews"),
)


def discrepancies(engine: Engine, filters: Filters = Filters(), kind: str | None = None, status: str | None = None,
                  limit: int | None = None, sort_model=None, filter_model=None,
                  review: str | None = None) -> list[dict]:
    """Issues matching the filters, newest first (money in micro-units, one currency per row), each with its
    latest review."""
    return list(all_rows(engine, DISCREPANCIES, filters, limit=limit, kind=kind, status=status, review=review,
                         sort_model=sort_model, filter_model=filter_model))


def _select_transactions(filters: Filters, kind: str | None = None, status: str | None = None):
    d, t = discrepancy_report.c, discrepancy_transactions.c
    return (select(t.discrepancy_id, d.status, t.position, t.role, t.transaction_id, t.user_id, t.currency,
                   t.ts, t.business_date, t.subscription_balance, t.payment_balance, t.gap,
                   t.count_lambda_errors, source_file(), t.line_no)
            .select_from(discrepancy_transactions
                         .join(discrepancy_report, d.discrepancy_id == t.discrepancy_id)
                         .outerjoin(files, files.c.file_id == t.file_id))
            .where(*_where(filters, kind, status)))


DISCREPANCY_TRANSACTIONS = TableQuery(
    name="discrepancy_transactions",
    build=_select_transactions,
    params=("kind", "status"),
    columns=(Col("discrepancy_id"), Col("status"), Col("position", "int"), Col("role"), Col("transaction_id"),
             Col("user_id"), Col("currency"), Col("ts", "ts"), Col("business_date", "date"),
             Col("subscription_balance", "money"), Col("payment_balance", "money"), Col("gap", "money"),
             Col("count_lambda_errors", "int"), Col("file"), Col("line_no", "int")),
    key=("discrepancy_id", "position"),
    default_sort=(("discrepancy_id", "asc"), ("position", "asc")),
    needs=("discrepancy_report", "discrepancy_transactions", "ingested_files"),
)


def episode_transactions(engine: Engine, filters: Filters = Filters(), kind: str | None = None,
                         status: str | None = None, limit: int | None = None) -> list[dict]:
    """The transactions behind the filtered issues: each out_of_sync episode's, and the one that resolved it."""
    return list(all_rows(engine, DISCREPANCY_TRANSACTIONS, filters, limit=limit, kind=kind, status=status))


@dataclasses.dataclass
class Exposure:
    """Open out_of_sync episodes of one currency: each out-of-sync user's current gap, counted once."""
    currency: str | None
    count_open: int = 0
    count_users: int = 0
    exposure: int = 0  # Σ |current gap| (micro-units)
    subscription_above: int = 0  # Σ gap where the subscription exceeds the wallet: meals not paid for
    subscription_below: int = 0  # Σ |gap| where it is below: money received and not credited
    count_unknown_gap: int = 0  # open episodes whose latest transaction printed no wallet (legacy)
    ageing: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # bucket -> (count, exposure)


def exposure(engine: Engine, filters: Filters = Filters(), as_of: str | date | None = None) -> list[Exposure]:
    """Per currency, the out_of_sync episodes open at the end of `as_of` (default: now, the data's last day):
    exposure split by direction, users and ageing buckets. Never summed across currencies.

    At a past day an episode counts when it was first seen by then and resolved after it, with its gap after
    its last transaction up to that day; ages are days from the business day it was first seen to that day."""
    day = parse_date(as_of)
    return _exposure(engine, filters, day.isoformat() if day else None)


@cached
def _exposure(engine: Engine, filters: Filters, as_of: str | None) -> list[Exposure]:
    d, t = discrepancy_report.c, discrepancy_transactions
    if as_of is None or as_of >= (data_last_day(engine) or as_of):  # what is open now
        stmt = (select(d.currency, d.current_gap.label("gap"), d.business_date, d.age_days)
                .where(*_where(filters, "out_of_sync", "open")))
        needs = ["discrepancy_report"]
    else:
        member, resolving = t.alias("member"), t.alias("resolving")
        latest = (select(func.max(member.c.position)).where(
            member.c.discrepancy_id == d.discrepancy_id, member.c.role == "out_of_sync",
            member.c.business_date <= as_of).correlate(discrepancy_report).scalar_subquery())
        resolved_by_then = (select(resolving.c.position).where(
            resolving.c.discrepancy_id == d.discrepancy_id, resolving.c.role == "resolving",
            resolving.c.business_date <= as_of).correlate(discrepancy_report).exists())
        stmt = (select(d.currency, t.c.gap, d.business_date, literal(None).label("age_days"))
                .select_from(discrepancy_report.join(t, and_(t.c.discrepancy_id == d.discrepancy_id,
                                                             t.c.position == latest)))
                .where(*_where(filters, "out_of_sync", None), d.business_date <= as_of, ~resolved_by_then))
        needs = ["discrepancy_report", "discrepancy_transactions"]
    out: dict[str, Exposure] = {}
    for r in fetch(engine, stmt, needs):
        e = out.setdefault(r["currency"] or "", Exposure(r["currency"]))
        e.count_open += 1
        e.count_users += 1  # at most one open episode per user (transform/invariants/discrepancy_report.yml)
        gap = r["gap"]
        if gap is None:
            e.count_unknown_gap += 1
        else:
            e.exposure += abs(gap)
            if gap > 0:
                e.subscription_above += gap
            else:
                e.subscription_below += -gap
        age = (date.fromisoformat(as_of) - date.fromisoformat(r["business_date"])).days if as_of else r["age_days"]
        label = age_bucket(age)
        n, total = e.ageing.get(label, (0, 0))
        e.ageing[label] = (n + 1, total + abs(gap or 0))
    return [out[k] for k in sorted(out)]


def age_bucket(days: int) -> str:
    for label, low, high in AGE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    return AGE_BUCKETS[0][0]


def other_issues(engine: Engine, filters: Filters = Filters(), status: str | None = None) -> list[dict]:
    """Per currency and kind (calculation, continuity, untied_error): count, open count and Σ amount at stake.
    Each row is one transaction's break, so the sums count each once."""
    return _other_issues(engine, filters, one_of(status, DISCREPANCY_STATUSES))


@cached
def _other_issues(engine: Engine, filters: Filters, status: str | None) -> list[dict]:
    d = discrepancy_report.c
    stmt = (select(d.currency, d.kind, func.count().label("count_issues"),
                   func.sum(case((d.status == "open", 1), else_=0)).label("count_open"),
                   func.sum(d.amount_at_stake).label("amount_at_stake"))
            .where(d.kind != "out_of_sync", *_where(filters, None, status))
            .group_by(d.currency, d.kind).order_by(d.currency, d.kind))
    return [{"currency": r["currency"], "kind": r["kind"], "count_issues": as_int(r["count_issues"]),
             "count_open": as_int(r["count_open"]), "amount_at_stake": as_int(r["amount_at_stake"])}
            for r in fetch(engine, stmt, ["discrepancy_report"])]


def data_last_day(engine: Engine) -> str | None:
    """The last business day with a transaction (the ages of open issues are counted to it)."""
    found = fetch(engine, select(func.max(daily_flows.c.business_date).label("day")), ["daily_flows"])
    return found[0]["day"] if found else None


def rollforward(engine: Engine, currency: str | None = None) -> list[dict]:
    """balance_rollforward: per currency and business month, opening + movements = closing (micro-units)."""
    r = balance_rollforward.c
    stmt = select(balance_rollforward).order_by(r.currency, r.month)
    if currency:
        stmt = stmt.where(r.currency == currency)
    return fetch(engine, stmt, ["balance_rollforward"])


def episodes_of_transactions(engine: Engine, transaction_ids: list[str]) -> dict[str, list[dict]]:
    """For ledger rows: the issues each transaction belongs to (episode membership, or its own break). Raises
    MissingTables before the transforms have built them."""
    d, t = discrepancy_report.c, discrepancy_transactions.c
    out: dict[str, list[dict]] = {}
    with connect(engine) as conn:
        require(conn, "discrepancy_report", "discrepancy_transactions")
        for start in range(0, len(transaction_ids), 500):
            chunk = transaction_ids[start:start + 500]
            members = (select(t.transaction_id, t.role, d.discrepancy_id, d.kind, d.status)
                       .select_from(discrepancy_transactions.join(discrepancy_report,
                                                                  d.discrepancy_id == t.discrepancy_id))
                       .where(t.transaction_id.in_(chunk)))
            breaks = (select(d.first_transaction_id.label("transaction_id"), d.kind.label("role"), d.discrepancy_id,
                             d.kind, d.status)
                      .where(d.kind.in_(("calculation", "continuity")), d.first_transaction_id.in_(chunk)))
            for stmt in (members, breaks):
                for r in rows(conn, stmt.order_by("discrepancy_id")):
                    out.setdefault(r["transaction_id"], []).append(r)
    return out


__all__ = ["DISCREPANCIES", "DISCREPANCY_TRANSACTIONS", "AGE_BUCKETS", "Exposure", "discrepancies",
           "episode_transactions", "exposure", "age_bucket", "other_issues", "data_last_day", "rollforward",
           "episodes_of_transactions"]
