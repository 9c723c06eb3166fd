"""Overdrafts: users whose balance is negative now, and every overdraft event with its reason.

An overdraft event is a transaction flagged by transform/ (actual: the new
balance is negative; expected: the recomputed balance is; wallet: the payment
balance is; crossing: the balance went from >= 0 to < 0) or one of the Lambda's
own refusals (`negative_balance_guards`, reason "guard").
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import String, and_, case, func, literal, null, or_, select, true, union_all
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import (OVERDRAFT_REASONS, Filters, as_int, currency_is, date_range, fetch, in_range, one_of,
                          source_file, standard, user_balances, user_matches)
from queries.cache import cached
from queries.paging import Col, TableQuery, all_rows

be, guards, files = s.balance_events, s.negative_balance_guards, s.ingested_files
FLAGS = {"actual": be.c.is_overdraft_actual, "expected": be.c.is_overdraft_expected,
         "wallet": be.c.is_overdraft_wallet, "crossing": be.c.is_overdraft_crossing}
GUARD_REASON = "guard"
PRIMARY_ORDER = ("crossing", "actual", "expected", "wallet")  # an event with several flags is drawn under the first


# --- users overdrawn now ---------------------------------------------------------------------------

def _negative_now():
    u = user_balances.c
    return or_(u.is_overdrawn == true(), u.payment_balance < 0)


def _overdrawn_select(filters: Filters):
    u = user_balances.c
    both = and_(u.is_overdrawn == true(), u.payment_balance < 0)
    which = case((both, literal("balance and wallet")), (u.is_overdrawn == true(), literal("balance")),
                 else_=literal("wallet"))
    # the figure that lists the user: the negative balance, else the negative wallet (both: the lower)
    amount = case((both, case((u.payment_balance < u.balance, u.payment_balance), else_=u.balance)),
                  (u.is_overdrawn == true(), u.balance), else_=u.payment_balance)
    return (select(u.user_id, u.currency, which.label("negative"), amount.label("negative_amount"), u.balance,
                   u.payment_balance, u.overdrawn_since, u.wallet_overdrawn_since, u.last_seen_at,
                   u.count_transactions, u.count_open_discrepancies, u.is_test_user)
            .where(_negative_now(), *currency_is(u.currency, filters), *user_matches(u.user_id, filters)))


OVERDRAWN_USERS = TableQuery(
    name="overdrawn-users",
    build=_overdrawn_select,
    columns=(Col("user_id"), Col("currency"), Col("negative"), Col("negative_amount", "money"),
             Col("balance", "money"), Col("payment_balance", "money"), Col("overdrawn_since", "ts"),
             Col("wallet_overdrawn_since", "ts"), Col("last_seen_at", "ts"), Col("count_transactions", "int"),
             Col("count_open_discrepancies", "int"), Col("is_test_user", "bool")),
    key=("user_id", "currency"),
    # amounts compare within a currency only: per currency, the most negative first
    default_sort=(("currency", "asc"), ("negative_amount", "asc")),
    needs=("user_balances",),
)


DEEPEST_BALANCE_FIRST = [{"colId": "balance", "sort": "asc"}, {"colId": "payment_balance", "sort": "asc"}]


def overdrawn_users(engine: Engine, filters: Filters = Filters(), limit: int | None = None) -> list[dict]:
    """Users whose balance or payment (wallet) balance is negative as of their last transaction, the deepest
    balance first, then the deepest wallet (the date range does not apply: this is "now")."""
    return list(all_rows(engine, OVERDRAWN_USERS, filters, sort_model=DEEPEST_BALANCE_FIRST, limit=limit))


# --- overdraft events ------------------------------------------------------------------------------

def _guard_currency():
    # The refusal names no currency: take the refused transaction's, else the user's latest.
    latest = (select(be.c.currency).where(be.c.user_id == guards.c.user_id)
              .order_by(be.c.ts.desc()).limit(1).scalar_subquery())
    linked = select(be.c.currency).where(be.c.transaction_id == guards.c.transaction_id).scalar_subquery()
    return func.coalesce(linked, latest)


def _events_select(filters: Filters, reason: str | None = None):
    parts = _event_parts(filters, reason)
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _event_parts(filters: Filters, reason: str | None = None) -> list:
    """The flagged transactions and the Lambda's refusals, as two SELECTs with the same columns."""
    reason = one_of(reason, OVERDRAFT_REASONS)
    parts = []
    if reason != GUARD_REASON:
        c = be.c
        flagged = FLAGS[reason] == true() if reason else or_(*(f == true() for f in FLAGS.values()))
        primary = (literal(reason, String) if reason else
                   case(*((FLAGS[r] == true(), literal(r, String)) for r in PRIMARY_ORDER), else_=literal("other")))
        parts.append(
            select(c.ts, c.business_date, c.user_id, c.currency, c.transaction_id,
                   c.overdraft_reason.label("reason"), primary.label("primary_reason"), c.type, c.amount,
                   c.old_balance, c.new_balance,
                   c.expected_new_balance, c.payment_balance, source_file(), c.line_no)
            .select_from(be.outerjoin(files, files.c.file_id == c.file_id))
            # s.IS_OVERDRAFT: true exactly when a flag is (overdraft_reason names every flag); said here so that
            # the flagged transactions are read from their partial index, not from every transaction
            .where(s.IS_OVERDRAFT, flagged, *standard(c, filters)))
    if reason in (None, GUARD_REASON):
        g = guards.c
        currency = _guard_currency()
        parts.append(
            select(g.ts, g.business_date, g.user_id, currency.label("currency"), g.transaction_id,
                   literal(GUARD_REASON, String).label("reason"), literal(GUARD_REASON, String).label("primary_reason"),
                   null().label("type"), null().label("amount"),
                   g.current_balance.label("old_balance"), null().label("new_balance"),
                   null().label("expected_new_balance"), null().label("payment_balance"),
                   source_file(), g.line_no)
            .select_from(guards.outerjoin(files, files.c.file_id == g.file_id))
            .where(*date_range(g.business_date, filters), *user_matches(g.user_id, filters),
                   *([currency == filters.currency] if filters.currency else [])))
    return parts


def _events_statement(filters: Filters, reason: str | None = None):
    stmt = _events_select(filters, reason)
    sub = stmt.subquery("ev")
    return select(sub)


OVERDRAFT_EVENTS = TableQuery(
    name="overdraft-events",
    build=_events_statement,
    parts=_event_parts,
    params=("reason",),
    columns=(Col("ts", "ts"), Col("business_date", "date"), Col("user_id"), Col("currency"), Col("reason"),
             Col("type"), Col("amount", "money"), Col("old_balance", "money"), Col("new_balance", "money"),
             Col("expected_new_balance", "money"), Col("payment_balance", "money"), Col("transaction_id"),
             Col("file"), Col("line_no", "int")),
    key=("ts", "transaction_id", "reason"),
    default_sort=(("business_date", "desc"), ("ts", "desc")),
    needs=("balance_events", "negative_balance_guards", "ingested_files"),
)


def overdraft_events(engine: Engine, filters: Filters = Filters(), reason: str | None = None,
                     limit: int | None = None) -> list[dict]:
    """Overdraft events (flagged transactions and the Lambda's refusals), newest first."""
    return list(all_rows(engine, OVERDRAFT_EVENTS, filters, limit=limit, reason=reason))


def overdrafts_per_day(engine: Engine, filters: Filters = Filters(), reason: str | None = None) -> list[dict]:
    """Per business date and reason: number of overdraft events. With a reason, the events that have it; without,
    each event under its first reason in crossing > actual > expected > wallet (guard: the Lambda's refusals)."""
    reason = one_of(reason, OVERDRAFT_REASONS)
    if filters.user:
        return _per_day_sql(engine, filters, reason)
    out: dict[tuple, int] = defaultdict(int)
    for r in _daily_rollup(engine):
        if not in_range(r["business_date"], filters) or (filters.currency and r["currency"] != filters.currency):
            continue
        if r["guard"]:
            label = GUARD_REASON if reason in (None, GUARD_REASON) else None
        elif reason is None:
            label = next((f for f in PRIMARY_ORDER if r[f]), "other")
        else:
            label = reason if reason != GUARD_REASON and r[reason] else None
        if label:
            out[(r["business_date"], label)] += r["n"]
    return [{"business_date": day, "reason": label, "count_events": n} for (day, label), n in sorted(out.items())]


@cached(copy=False)
def _daily_rollup(engine: Engine) -> list[dict]:
    """Overdraft events per business date, currency and combination of flags (plus the refusals): one scan of
    balance_events per data version."""
    c = be.c
    flags = [FLAGS[f] == true() for f in PRIMARY_ORDER]
    flagged = (select(c.business_date, c.currency, *[f.label(n) for f, n in zip(flags, PRIMARY_ORDER)],
                      func.count().label("n"))
               .where(s.IS_OVERDRAFT, or_(*flags)).group_by(c.business_date, c.currency, *flags))
    g = guards.c
    refused = select(g.business_date, _guard_currency().label("currency")).subquery()
    refusals = (select(refused.c.business_date, refused.c.currency, func.count().label("n"))
                .group_by(refused.c.business_date, refused.c.currency))
    out = [{**r, "guard": False, "n": as_int(r["n"]), **{f: bool(r[f]) for f in PRIMARY_ORDER}}
           for r in fetch(engine, flagged, OVERDRAFT_EVENTS.needs)]
    out += [{**r, "guard": True, "n": as_int(r["n"]), **{f: False for f in PRIMARY_ORDER}}
            for r in fetch(engine, refusals, OVERDRAFT_EVENTS.needs)]
    return out


@cached
def _per_day_sql(engine: Engine, filters: Filters, reason: str | None) -> list[dict]:
    sub = _events_select(filters, reason).subquery("ev")
    stmt = (select(sub.c.business_date, sub.c.primary_reason.label("reason"), func.count().label("count_events"))
            .group_by(sub.c.business_date, sub.c.primary_reason).order_by(sub.c.business_date, sub.c.primary_reason))
    return [{**r, "reason": r["reason"] or "(unspecified)", "count_events": as_int(r["count_events"])}
            for r in fetch(engine, stmt, OVERDRAFT_EVENTS.needs)]


@cached
def overdraft_summary(engine: Engine, filters: Filters = Filters()) -> list[dict]:
    """Per currency, as of each user's last transaction: users with a negative balance and their total, users
    with a negative payment (wallet) balance and their total (micro-units)."""
    u = user_balances.c
    overdrawn = u.is_overdrawn == true()
    wallet = u.payment_balance < 0
    stmt = (select(u.currency, func.count().filter(overdrawn).label("count_users"),
                   func.sum(case((overdrawn, u.balance), else_=0)).label("total_balance"),
                   func.count().filter(wallet).label("count_wallet_users"),
                   func.sum(case((wallet, u.payment_balance), else_=0)).label("total_wallet"))
            .where(_negative_now(), *currency_is(u.currency, filters), *user_matches(u.user_id, filters))
            .group_by(u.currency).order_by(u.currency))
    return [{"currency": r["currency"], **{k: as_int(r[k]) for k in ("count_users", "total_balance",
                                                                      "count_wallet_users", "total_wallet")}}
            for r in fetch(engine, stmt, ["user_balances"])]
