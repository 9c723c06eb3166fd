"""Query functions: each returns rows (dicts, money in micro-units) for one table, chart or sheet.

These are the reports' side of "every view's data can leave as data": the
HTML cards and charts, the workbook sheets and the CSV files all read rows
from here, and nothing else in reports/ holds SQL. Every function takes the
engine and a `Filters` (business-date range, optional currency) and binds its
parameters. Large results (`ledger`, `parsed_events`) are generators that
stream from the database in batches, so memory stays flat.

Written against the derived-table contract while app/queries is being built;
see docs/reports.md for how the two relate.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.engine import Engine

from reports import tables as t

STREAM_ROWS = 5000  # rows fetched per round trip by the streaming queries


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which rows a report covers: business dates (inclusive, 'YYYY-MM-DD') and optionally one currency."""
    date_from: str | None = None
    date_to: str | None = None
    currency: str | None = None

    def dates(self, col):
        """The WHERE clause for a business-date column."""
        clauses = []
        if self.date_from:
            clauses.append(col >= self.date_from)
        if self.date_to:
            clauses.append(col <= self.date_to)
        return and_(true(), *clauses)

    def where(self, tbl, date_col: str = "business_date"):
        clause = self.dates(tbl.c[date_col])
        if self.currency:
            clause = and_(clause, tbl.c.currency == self.currency)
        return clause


def _rows(engine: Engine, stmt) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _stream(engine: Engine, stmt) -> Iterator[dict]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        for row in result.mappings():
            yield dict(row)


def _flag(col):
    """A boolean column as 1/0, so it can be summed on every database."""
    return case((col.is_(True), 1), else_=0)


def _overdrawn(tbl):
    """A balance event counts as an overdraft when any of the three balances went below zero."""
    return or_(tbl.c.is_overdraft_actual.is_(True), tbl.c.is_overdraft_expected.is_(True),
               tbl.c.is_overdraft_wallet.is_(True))


# --- the period ---------------------------------------------------------------------------------

def business_date_range(engine: Engine) -> tuple[str | None, str | None]:
    """First and last business date with a transaction (None, None on an empty database)."""
    be = t.balance_events
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(be.c.business_date), func.max(be.c.business_date))).one()
    return first, last


# --- headline figures -----------------------------------------------------------------------------

def kpis(engine: Engine, f: Filters) -> dict:
    """The cards at the top of the HTML report: counts, and per currency debits and credits."""
    be, dr, an, ub = t.balance_events, t.discrepancy_report, t.anomalies, t.user_balances
    with engine.connect() as conn:
        count_transactions, count_users, count_overdraft_events = conn.execute(
            select(func.count(), func.count(be.c.user_id.distinct()), func.coalesce(func.sum(_flag(_overdrawn(be))), 0))
            .where(f.where(be))).one()
        count_open = conn.execute(select(func.count()).select_from(dr)
                                  .where(f.where(dr), dr.c.status == "open")).scalar_one()
        by_severity = dict(conn.execute(select(an.c.severity, func.count()).where(f.where(an))
                                        .group_by(an.c.severity)).all())
        ub_where = ub.c.is_overdrawn.is_(True)
        if f.currency:
            ub_where = and_(ub_where, ub.c.currency == f.currency)
        count_overdrawn = conn.execute(select(func.count()).select_from(ub).where(ub_where)).scalar_one()
    return {
        "count_transactions": count_transactions,
        "count_users": count_users,
        "count_overdraft_events": count_overdraft_events,
        "count_overdrawn_users": count_overdrawn,
        "count_open_discrepancies": count_open,
        "count_anomalies": sum(by_severity.values()),
        "count_high_anomalies": by_severity.get("high", 0),
        "flows": flows_by_currency(engine, f),
    }


def flows_by_currency(engine: Engine, f: Filters) -> list[dict]:
    """Per currency: count and gross total of debits and of credits (from daily_flows)."""
    fl = t.daily_flows
    is_debit, is_credit = fl.c.type == "DEBIT", fl.c.type == "CREDIT"
    stmt = (select(fl.c.currency,
                   func.sum(case((is_debit, fl.c.count_transactions), else_=0)).label("count_debits"),
                   func.sum(case((is_debit, fl.c.total_amount), else_=0)).label("total_debit"),
                   func.sum(case((is_credit, fl.c.count_transactions), else_=0)).label("count_credits"),
                   func.sum(case((is_credit, fl.c.total_amount), else_=0)).label("total_credit"),
                   func.sum(fl.c.total_vat).label("total_vat"))
            .where(f.where(fl)).group_by(fl.c.currency).order_by(fl.c.currency))
    return _rows(engine, stmt)


# --- charts -------------------------------------------------------------------------------------------

def daily_net_flow(engine: Engine, f: Filters) -> list[dict]:
    """Per business date and currency: credits minus debits, net of VAT (what balances moved by)."""
    fl = t.daily_flows
    signed = case((fl.c.type == "CREDIT", fl.c.total_net), (fl.c.type == "DEBIT", -fl.c.total_net), else_=0)
    stmt = (select(fl.c.business_date, fl.c.currency, func.sum(signed).label("net_flow"))
            .where(f.where(fl)).group_by(fl.c.business_date, fl.c.currency)
            .order_by(fl.c.business_date, fl.c.currency))
    return _rows(engine, stmt)


def top_overdrafts(engine: Engine, f: Filters, limit: int | None = 20) -> list[dict]:
    """Users overdrawn now (as of the last ingest), deepest first."""
    ub = t.user_balances
    where = ub.c.is_overdrawn.is_(True)
    if f.currency:
        where = and_(where, ub.c.currency == f.currency)
    stmt = (select(ub.c.user_id, ub.c.currency, ub.c.balance, ub.c.payment_balance, ub.c.overdrawn_since,
                   ub.c.last_transaction_id, ub.c.count_open_discrepancies)
            .where(where).order_by(ub.c.balance, ub.c.user_id, ub.c.currency).limit(limit))
    return _rows(engine, stmt)


def discrepancies_by_day(engine: Engine, f: Filters) -> list[dict]:
    dr = t.discrepancy_report
    stmt = (select(dr.c.business_date, dr.c.kind, func.count().label("count"))
            .where(f.where(dr)).group_by(dr.c.business_date, dr.c.kind)
            .order_by(dr.c.business_date, dr.c.kind))
    return _rows(engine, stmt)


def anomalies_by_detector(engine: Engine, f: Filters) -> list[dict]:
    an = t.anomalies
    stmt = (select(an.c.detector, an.c.severity, func.count().label("count"))
            .where(f.where(an)).group_by(an.c.detector, an.c.severity).order_by(an.c.detector, an.c.severity))
    return _rows(engine, stmt)


def daily_health(engine: Engine, f: Filters) -> list[dict]:
    h = t.daily_health
    return _rows(engine, select(h).where(f.dates(h.c.business_date)).order_by(h.c.business_date))


# --- tables and sheets ----------------------------------------------------------------------------------

def discrepancies(engine: Engine, f: Filters, limit: int | None = None, status: str | None = None,
                  order: str = "date") -> list[dict]:
    """discrepancy_report rows; order 'date' (oldest first) or 'stake' (largest amount at stake first)."""
    dr = t.discrepancy_report
    where = f.where(dr)
    if status:
        where = and_(where, dr.c.status == status)
    by = ((func.abs(dr.c.amount_at_stake).desc(), dr.c.discrepancy_id) if order == "stake"
          else (dr.c.business_date, dr.c.detected_at, dr.c.discrepancy_id))
    return _rows(engine, select(dr).where(where).order_by(*by).limit(limit))


def anomalies(engine: Engine, f: Filters, limit: int | None = None, min_severity: str | None = None,
              order: str = "date") -> list[dict]:
    """anomalies rows, optionally only those at or above a severity; order 'date' or 'severity'."""
    an = t.anomalies
    where = f.where(an)
    if min_severity:
        where = and_(where, an.c.severity.in_(t.SEVERITIES[t.SEVERITIES.index(min_severity):]))
    rank = case({"high": 0, "medium": 1, "low": 2}, value=an.c.severity, else_=3)
    by = ((rank, an.c.score.desc(), an.c.anomaly_id) if order == "severity"
          else (an.c.business_date, an.c.detected_at, an.c.anomaly_id))
    return _rows(engine, select(an).where(where).order_by(*by).limit(limit))


def user_balances(engine: Engine, f: Filters) -> list[dict]:
    """One row per user and currency (current state; the date range does not apply)."""
    ub = t.user_balances
    where = ub.c.currency == f.currency if f.currency else true()
    return _rows(engine, select(ub).where(where).order_by(ub.c.user_id, ub.c.currency))


def by_source(engine: Engine, f: Filters) -> list[dict]:
    """daily_flows summed over the period per currency, type, source and action."""
    fl = t.daily_flows
    keys = (fl.c.currency, fl.c.type, fl.c.source, fl.c.action)
    stmt = (select(*keys, func.sum(fl.c.count_transactions).label("count_transactions"),
                   func.sum(fl.c.total_amount).label("total_amount"), func.sum(fl.c.total_vat).label("total_vat"),
                   func.sum(fl.c.total_net).label("total_net"))
            .where(f.where(fl)).group_by(*keys).order_by(*keys))
    return _rows(engine, stmt)


def overdraft_events(engine: Engine, f: Filters) -> list[dict]:
    """Every transaction after which a balance was below zero, and why."""
    be = t.balance_events
    cols = [be.c[n] for n in OVERDRAFT_EVENT_COLUMNS]
    stmt = (select(*cols).where(f.where(be), _overdrawn(be))
            .order_by(be.c.ts, be.c.transaction_id))
    return _rows(engine, stmt)


OVERDRAFT_EVENT_COLUMNS = (
    "business_date", "ts", "transaction_id", "user_id", "currency", "type", "source", "action", "amount", "vat",
    "old_balance", "new_balance", "expected_new_balance", "payment_balance", "is_overdraft_actual",
    "is_overdraft_expected", "is_overdraft_wallet", "is_overdraft_crossing", "overdraft_reason")


def count_ledger(engine: Engine, f: Filters) -> int:
    be = t.balance_events
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(be).where(f.where(be))).scalar_one()


def ledger(engine: Engine, f: Filters, columns: Sequence[str]) -> Iterator[tuple]:
    """balance_events in time order, as tuples of the given columns (streamed)."""
    be = t.balance_events
    stmt = (select(*(be.c[n] for n in columns)).where(f.where(be))
            .order_by(be.c.ts, be.c.transaction_id))
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        yield from result


PARSED_EVENT_COLUMNS = ("event_id", "ts", "business_date", "kind", "detail", "level", "request_id", "message_id",
                        "transaction_id", "user_id", "parse_status", "file_id", "line_no", "text", "payload")


def parsed_events(engine: Engine, f: Filters) -> Iterator[tuple]:
    """Every parsed log event in the period (the auditors' raw CSV), streamed in time order."""
    pl = t.parsed_logs
    stmt = (select(*(pl.c[n] for n in PARSED_EVENT_COLUMNS)).where(f.dates(pl.c.business_date))
            .order_by(pl.c.ts, pl.c.event_id))
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        yield from result


# --- daily overdrafts ---------------------------------------------------------------------------------------

def daily_overdrafts(engine: Engine, business_date: str, currency: str | None = None) -> list[dict]:
    """Users overdrawn at the end of one business day, or who went below zero during it.

    status: `new` (not overdrawn before the day, below zero during it), `ongoing`
    (overdrawn before the day and still at its end) or `resolved` (overdrawn
    before the day, back at or above zero at its end). Balances are those of the
    user's last transaction up to the end of the day.
    """
    be = t.balance_events
    over = _overdrawn(be)
    scope = [be.c.business_date <= business_date, be.c.user_id.isnot(None)]
    if currency:
        scope.append(be.c.currency == currency)
    # Only users who were ever below zero up to that day: a small set, so the window below stays cheap.
    candidates = (select(be.c.user_id, be.c.currency).where(*scope, over)
                  .group_by(be.c.user_id, be.c.currency).subquery("candidates"))
    joined = and_(be.c.user_id == candidates.c.user_id, be.c.currency == candidates.c.currency)
    stmt = (select(be.c.user_id, be.c.currency, be.c.business_date, be.c.ts, be.c.transaction_id,
                   be.c.new_balance, be.c.expected_new_balance, be.c.payment_balance, be.c.overdraft_reason,
                   _flag(over).label("is_over"))
            .select_from(be.join(candidates, joined)).where(*scope)
            .order_by(be.c.user_id, be.c.currency, be.c.ts, be.c.transaction_id))
    by_user: dict[tuple, dict] = {}
    with engine.connect() as conn:
        for r in conn.execute(stmt).mappings():
            key = (r["user_id"], r["currency"])
            st = by_user.setdefault(key, {"last": None, "before": None, "streak_from": None, "today_over": None,
                                          "count_today": 0})
            # Rows arrive oldest first: track the start of the current below-zero streak.
            if r["is_over"]:
                if st["streak_from"] is None:
                    st["streak_from"] = r
            else:
                st["streak_from"] = None
            if r["business_date"] < business_date:
                st["before"] = r
            elif r["is_over"]:
                st["count_today"] += 1
                st["today_over"] = st["today_over"] or r
            st["last"] = r
    out = []
    for (user_id, cur), st in sorted(by_user.items(), key=lambda kv: (kv[0][1] or "", kv[0][0])):
        last, before = st["last"], st["before"]
        over_before = bool(before and before["is_over"])
        over_end = bool(last["is_over"])
        if over_before and over_end:
            status = "ongoing"
        elif over_before:
            status = "resolved"
        elif st["today_over"] is not None:
            status = "new"
        else:
            continue  # below zero at some time before the day, but not around it
        reason_row = last if over_end else st["today_over"] or before
        since = st["streak_from"] if over_end else None
        out.append({
            "business_date": business_date, "status": status, "user_id": user_id, "currency": cur,
            "balance": last["new_balance"], "payment_balance": last["payment_balance"],
            "expected_balance": last["expected_new_balance"],
            "overdraft_amount": overdraft_amount(last) if over_end else 0,
            "overdraft_reason": reason_row["overdraft_reason"],
            "overdrawn_since": since["ts"] if since else None,
            "count_overdraft_transactions": st["count_today"],
            "last_transaction_id": last["transaction_id"], "last_transaction_at": last["ts"],
        })
    order_status = {"new": 0, "ongoing": 1, "resolved": 2}
    out.sort(key=lambda r: (order_status[r["status"]], r["currency"] or "", -r["overdraft_amount"], r["user_id"]))
    return out


def overdraft_amount(row: dict) -> int:
    """How far below zero, as a positive amount: the deepest of the three balances (0 if none is negative)."""
    values = [row.get(k) for k in ("new_balance", "expected_new_balance", "payment_balance")]
    return max([0] + [-v for v in values if v is not None and v < 0])


# --- weekly reconciliation ---------------------------------------------------------------------------------

def weekly_reconciliation(engine: Engine, date_from: str, date_to: str, utc_from: str, utc_to: str,
                          currency: str | None = None) -> list[dict]:
    """Per currency and kind: discrepancies opened, resolved and still open in one week, with amounts at stake.

    A discrepancy was *opened* in the week when its business date falls in it,
    *resolved* when `resolved_at` (UTC) falls between the week's first and
    last instant (utc_from inclusive, utc_to exclusive), and is *still open*
    at the end of the week when it was opened by then and not resolved by then.
    """
    dr = t.discrepancy_report
    opened = dr.c.business_date.between(date_from, date_to)
    resolved = and_(dr.c.resolved_at >= utc_from, dr.c.resolved_at < utc_to)
    still_open = and_(dr.c.business_date <= date_to, or_(dr.c.resolved_at.is_(None), dr.c.resolved_at >= utc_to))
    stake = func.coalesce(dr.c.amount_at_stake, 0)

    def count_and_sum(cond, name):
        return (func.sum(case((cond, 1), else_=0)).label(f"count_{name}"),
                func.sum(case((cond, stake), else_=0)).label(f"amount_{name}"))

    where = [dr.c.business_date <= date_to]
    if currency:
        where.append(dr.c.currency == currency)
    stmt = (select(func.coalesce(dr.c.currency, literal("")).label("currency"), dr.c.kind,
                   *count_and_sum(opened, "opened"), *count_and_sum(resolved, "resolved"),
                   *count_and_sum(still_open, "still_open"))
            .where(*where).group_by(dr.c.currency, dr.c.kind).order_by(dr.c.currency, dr.c.kind))
    rows = _rows(engine, stmt)
    return [dict(r, week_from=date_from, week_to=date_to) for r in rows
            if r["count_opened"] or r["count_resolved"] or r["count_still_open"]]
