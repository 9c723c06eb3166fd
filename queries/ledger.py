"""One user's ledger: every transaction with its checks and provenance, and the balance over time."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, literal, select
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import (Filters, MissingTables, as_int, connect, currency_is, date_range, discrepancy_report, fetch,
                          source_file, table_names, user_balances)
from queries.cache import cached
from queries.discrepancies import episodes_of_transactions
from queries.paging import Col, TableQuery

MAX_HISTORY_POINTS = 5_000  # a balance chart of more points says nothing more; the newest are kept

be, files = s.balance_events, s.ingested_files


def _ledger_select(filters: Filters, user_id: str | None = None):
    c = be.c
    stmt = (select(c.ts, c.business_date, c.transaction_id, c.currency, c.type, c.schema, c.source, c.action,
                   c.amount, c.vat, c.net_change, c.old_balance, c.new_balance, c.expected_new_balance,
                   c.calc_difference, c.is_calc_mismatch, c.prev_new_balance, c.continuity_gap,
                   c.is_continuity_break, c.overdraft_reason, c.payment_balance, c.user_seq,
                   source_file(), c.line_no, c.file_id, c.user_id)
            .select_from(be.outerjoin(files, files.c.file_id == c.file_id))
            .where(c.user_id == (user_id or ""), *date_range(c.business_date, filters),
                   *currency_is(c.currency, filters)))
    return stmt


USER_LEDGER = TableQuery(
    name="ledger",
    build=_ledger_select,
    params=("user_id",),
    columns=(Col("ts", "ts"), Col("business_date", "date"), Col("transaction_id"), Col("currency"), Col("type"),
             Col("schema"), Col("source"), Col("action"), Col("amount", "money"), Col("vat", "money"),
             Col("net_change", "money"), Col("old_balance", "money"), Col("new_balance", "money"),
             Col("expected_new_balance", "money"), Col("calc_difference", "money"), Col("is_calc_mismatch", "bool"),
             Col("prev_new_balance", "money"), Col("continuity_gap", "money"), Col("is_continuity_break", "bool"),
             Col("overdraft_reason"), Col("payment_balance", "money"), Col("user_seq", "int"), Col("file"),
             Col("line_no", "int"), Col("file_id", "int"), Col("user_id")),
    key=("transaction_id",),
    default_sort=(("ts", "desc"),),
    needs=("balance_events", "ingested_files"),
)


def user_ledger(engine: Engine, user_id: str, filters: Filters = Filters(), limit: int | None = None) -> list[dict]:
    """Every transaction of one user, newest first, with checks, provenance and linked discrepancies."""
    out = fetch(engine, USER_LEDGER.statement(filters, user_id=user_id), USER_LEDGER.needs, limit)
    return with_discrepancies(engine, out)


def with_discrepancies(engine: Engine, ledger_rows: list[dict]) -> list[dict]:
    """Add `discrepancies` ("<discrepancy id> (status)"; …) to ledger rows: the out_of_sync episode a
    transaction belongs to (or resolved), and its own calculation or continuity break."""
    ids = [r["transaction_id"] for r in ledger_rows]
    linked: dict[str, list[str]] = defaultdict(list)
    try:
        issues_of = episodes_of_transactions(engine, ids) if ids else {}
    except MissingTables:
        issues_of = {}  # the ledger still shows; the page says the transforms are missing
    for tx, issues in issues_of.items():
        linked[tx] = [f"{i['discrepancy_id']} ({'resolved here' if i['role'] == 'resolving' else i['status']})"
                      for i in issues]
    for r in ledger_rows:
        r["discrepancies"] = "; ".join(linked.get(r["transaction_id"], ()))
    return ledger_rows


def balance_history(engine: Engine, user_id: str, filters: Filters = Filters()) -> list[dict]:
    """The user's balance after each transaction (oldest first), per currency, with the check flags."""
    c = be.c
    stmt = (select(c.ts, c.transaction_id, c.currency, c.type, c.amount, c.old_balance, c.new_balance,
                   c.expected_new_balance, c.is_calc_mismatch, c.is_continuity_break, c.overdraft_reason)
            .where(c.user_id == user_id, *date_range(c.business_date, filters), *currency_is(c.currency, filters))
            .order_by(c.ts.desc(), c.transaction_id.desc()).limit(MAX_HISTORY_POINTS))
    return fetch(engine, stmt, ["balance_events"])[::-1]


def user_discrepancies(engine: Engine, user_id: str, filters: Filters = Filters()) -> list[dict]:
    """The user's issues for the balance chart: each placed at the balance after its first transaction, with
    `until` (when it was resolved, or last seen while open) for the span of an episode."""
    d, c = discrepancy_report.c, be.c
    stmt = (select(d.discrepancy_id, d.kind, d.status, d.currency, d.first_transaction_id, d.first_seen_at,
                   func.coalesce(d.resolved_at, d.last_seen_at).label("until"), d.amount_at_stake,
                   d.current_gap, d.explanation, c.ts, c.new_balance)
            .select_from(discrepancy_report.outerjoin(be, be.c.transaction_id == d.first_transaction_id))
            .where(d.user_id == user_id, *date_range(d.business_date, filters), *currency_is(d.currency, filters))
            .order_by(d.first_seen_at))
    try:
        return fetch(engine, stmt, ["discrepancy_report", "balance_events"], MAX_HISTORY_POINTS)
    except MissingTables:
        return []  # the chart still shows the balance; the page says transforms are missing


def user_summary(engine: Engine, user_id: str) -> list[dict]:
    """One row per currency the user has: balance now and counts (from user_balances, else from events)."""
    u = user_balances.c
    try:
        return fetch(engine, select(user_balances).where(u.user_id == user_id).order_by(u.currency),
                     ["user_balances"])
    except MissingTables as exc:
        if not exc.derived_only:
            raise
    c = be.c
    last = (select(c.currency, func.max(c.ts).label("last_seen_at"), func.min(c.ts).label("first_seen_at"),
                   func.count().label("count_transactions"))
            .where(c.user_id == user_id).group_by(c.currency).subquery())
    stmt = (select(last.c.currency, last.c.first_seen_at, last.c.last_seen_at, last.c.count_transactions,
                   c.new_balance.label("balance"), c.payment_balance, c.transaction_id.label("last_transaction_id"))
            .join(last, (last.c.currency == c.currency) & (last.c.last_seen_at == c.ts))
            .where(c.user_id == user_id).order_by(last.c.currency))
    return fetch(engine, stmt, ["balance_events"])


@cached
def find_users(engine: Engine, text: str | None, currency: str | None = None, limit: int = 20) -> list[dict]:
    """Users whose id contains `text`, busiest first (for pickers)."""
    u = user_balances.c
    conds = [u.user_id.icontains(text, autoescape=True)] if text else []
    if currency:
        conds.append(u.currency == currency)
    n = func.sum(u.count_transactions)
    stmt = (select(u.user_id, n.label("count_transactions"), func.min(u.currency).label("currency"))
            .where(*conds).group_by(u.user_id).order_by(n.desc(), u.user_id).limit(limit))
    return [{**r, "count_transactions": as_int(r["count_transactions"])}
            for r in fetch(engine, stmt, ["user_balances"])]


@cached
def busiest_user(engine: Engine, filters: Filters, text: str | None = None) -> str | None:
    """The user with the most transactions in the filters' business days and currency whose id contains `text`
    (default: the global user search); None when nobody transacted then. Without dates: all time, from
    user_balances."""
    text = text if text is not None else filters.user
    if not filters.date_from and not filters.date_to:
        found = find_users(engine, text, filters.currency, limit=1)
        return found[0]["user_id"] if found else None
    c = be.c
    n = func.count()
    stmt = (select(c.user_id).where(*date_range(c.business_date, filters), *currency_is(c.currency, filters),
                                    *([c.user_id.icontains(text, autoescape=True)] if text else []))
            .group_by(c.user_id).order_by(n.desc(), c.user_id).limit(1))
    found = fetch(engine, stmt, ["balance_events"])
    return found[0]["user_id"] if found else None


def user_exists(engine: Engine, user_id: str) -> bool:
    with connect(engine) as conn:
        if "balance_events" not in table_names(conn):
            raise MissingTables(["balance_events"])
        return conn.execute(select(literal(1)).where(be.c.user_id == user_id).limit(1)).first() is not None


__all__ = ["USER_LEDGER", "user_ledger", "with_discrepancies", "balance_history", "user_discrepancies",
           "user_summary", "find_users", "busiest_user", "user_exists"]
