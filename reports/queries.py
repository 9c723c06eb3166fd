"""Query functions: each returns rows (dicts, money in micro-units) for one card, chart, table or sheet.

Whatever the dashboard also shows comes from the dashboard's own query
functions (queries/): the KPI figures, the overdrawn users, and the
discrepancy, anomaly and overdraft-event tables, so a report and the dashboard
agree for the same filters. What only reports need (the ledger, per-user and
per-source sheets, the daily overdraft and weekly reconciliation reports, the
raw events) is here, on the same `Filters` and WHERE helpers. Large results
are generators that stream from the database in batches.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import date

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.engine import Engine

from db import schema as s
from db.events import COLUMNS, every_event
from ingest.texts import EventTexts
from queries import (AGE_BUCKETS, ANOMALIES, DISCREPANCIES, OVERDRAFT_EVENTS, Exposure, Filters, all_rows,
                     anomaly_counts, data_last_day, exposure, flow_series, flow_totals, health_per_day, other_issues,
                     overdraft_summary, overdrafts_per_day, overdrawn_users, rollforward)
from queries import tables as t
from queries.base import as_int, currency_is, date_range, require, standard, table_names

__all__ = ["Filters"]

STREAM_ROWS = 5000  # rows fetched per round trip by the streaming queries
USERS_PER_QUERY = 500  # user ids bound in one IN (...) list


def make_filters(date_from: str | None = None, date_to: str | None = None, currency: str | None = None) -> Filters:
    """The dashboard's Filters from already validated text ('YYYY-MM-DD', currency code)."""
    return Filters(date.fromisoformat(date_from) if date_from else None,
                   date.fromisoformat(date_to) if date_to else None, currency or None)


def _where(tbl, f: Filters) -> list:
    """The global filters (dates, currency) on a table with business_date and currency columns."""
    return standard(tbl.c, f, user=False)


def _rows(engine: Engine, stmt) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


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


# --- headline figures (the dashboard's) ----------------------------------------------------------------

def kpis(engine: Engine, f: Filters) -> dict:
    """The cards at the top of the HTML report, from the same functions as the dashboard's cards."""
    flows = flow_totals(engine, f)
    negative = overdraft_summary(engine, f)
    open_episodes = [dataclasses.asdict(e) for e in exposure(engine, f)]
    breaks = other_issues(engine, f, status="open")
    severities: dict[str, int] = {}
    for r in anomaly_counts(engine, f):
        severities[r["severity"]] = severities.get(r["severity"], 0) + r["count_anomalies"]
    be = t.balance_events
    with engine.connect() as conn:
        count_users = conn.execute(select(func.count(be.c.user_id.distinct())).where(*_where(be, f))).scalar_one()
    return {
        "count_transactions": sum(r["count_transactions"] for r in flows),
        "count_users": as_int(count_users),
        "count_negative_balance_now": sum(r["count_users"] for r in negative),
        "count_negative_wallet_now": sum(r["count_wallet_users"] for r in negative),
        "count_overdraft_events": sum(r["count_events"] for r in overdrafts_per_day(engine, f)),
        "count_open_discrepancies": sum(e["count_open"] for e in open_episodes) + sum(r["count_open"] for r in breaks),
        "count_anomalies": sum(severities.values()),
        "count_high_anomalies": severities.get("high", 0),
        "flows": flows,
        "exposure": open_episodes,
        "as_of": data_last_day(engine),
    }


# per ageing bucket of queries.AGE_BUCKETS, its two columns: count_age_0_7, exposure_age_0_7, … count_age_over_90
AGE_KEYS = {label: (f"count_age_{suffix}", f"exposure_age_{suffix}")
            for label, suffix in ((label, f"{low}_{high}" if high is not None else f"over_{low - 1}")
                                  for label, low, high in AGE_BUCKETS)}


def ageing(buckets: dict[str, tuple[int, int]]) -> dict:
    """Exposure.ageing ({bucket: (episodes, exposure)}) as columns: count_age_* and exposure_age_*."""
    out = {}
    for label, (count_key, amount_key) in AGE_KEYS.items():
        out[count_key], out[amount_key] = buckets.get(label, (0, 0))
    return out


def exposure_row(e: dict) -> dict:
    """One currency's open exposure as a table row: per ageing bucket, the episodes and their exposure."""
    return {**{k: v for k, v in e.items() if k != "ageing"}, **ageing(e["ageing"])}


def exposure_rows(engine: Engine, f: Filters) -> list[dict]:
    """The open exposure per currency (kpis()["exposure"]) as rows for a table or sheet."""
    return [exposure_row(dataclasses.asdict(e)) for e in exposure(engine, f)]


def balance_rollforward(engine: Engine, f: Filters) -> list[dict]:
    """balance_rollforward (every month: a roll-forward is read whole), for one currency or all."""
    return rollforward(engine, f.currency)


def month_end(month: str) -> str:
    """'2024-02' -> '2024-02-29'."""
    year, mon = int(month[:4]), int(month[5:7])
    first_of_next = date(year + mon // 12, mon % 12 + 1, 1)
    return date.fromordinal(first_of_next.toordinal() - 1).isoformat()


def summary(engine: Engine, f: Filters) -> list[dict]:
    """Per currency and business month (every month of the data: the period does not apply, the currency does):
    the roll-forward with gross credits and debits, the VAT in each and the net movement, and the open exposure at
    the month's end (the data's last day for the last month) with its ageing.

    opening + first seen + net movement + calculation differences + continuity gaps = closing, and
    credits (gross) - VAT in credits - (debits (gross) - VAT in debits) = net movement, exactly."""
    months = rollforward(engine, f.currency)
    last_day = data_last_day(engine)
    scope = Filters(currency=f.currency)
    at_end = {}
    for month in sorted({r["month"] for r in months}):
        day = month_end(month)
        at_end[month] = {e.currency: e for e in exposure(engine, scope, as_of=min(day, last_day or day))}
    out = []
    for r in months:
        e = at_end[r["month"]].get(r["currency"]) or Exposure(r["currency"])
        out.append({
            "currency": r["currency"], "month": r["month"], "opening_balance": r["opening_balance"],
            "first_seen_balances": r["first_seen_balances"],
            "total_credit": r["credits"] + r["credit_vat"], "credit_vat": r["credit_vat"],
            "total_debit": r["debits"] + r["debit_vat"], "debit_vat": r["debit_vat"],
            "net_movement": r["credits"] - r["debits"], "calculation_differences": r["calculation_differences"],
            "continuity_gaps": r["continuity_gaps"], "closing_balance": r["closing_balance"],
            "count_transactions": r["count_transactions"], "count_users": r["count_users"],
            "count_new_users": r["count_new_users"], "month_end_exposure": e.exposure,
            "count_month_end_open": e.count_open, **ageing(e.ageing)})
    return out


# --- charts -------------------------------------------------------------------------------------------

def daily_net_flow(engine: Engine, f: Filters) -> list[dict]:
    """Per business date and currency: credits minus debits, net of VAT (what balances moved by)."""
    out: dict[tuple, dict] = {}
    for r in flow_series(engine, f, by="day"):
        sign = {"CREDIT": 1, "DEBIT": -1}.get(r["type"], 0)
        row = out.setdefault((r["period"], r["currency"]),
                             {"business_date": r["period"], "currency": r["currency"], "net_flow": 0})
        row["net_flow"] += sign * r["total_net"]
    return [out[k] for k in sorted(out, key=lambda k: (k[0], k[1] or ""))]


def top_overdrafts(engine: Engine, f: Filters, limit: int | None = 20) -> list[dict]:
    """Users whose balance or wallet is below zero now (as of the last ingest), deepest balance first."""
    return overdrawn_users(engine, f, limit=limit)


def discrepancies_by_day(engine: Engine, f: Filters) -> list[dict]:
    """Issues first seen per business date and kind."""
    dr = t.discrepancy_report
    stmt = (select(dr.c.business_date, dr.c.kind, func.count().label("count"))
            .where(*_where(dr, f)).group_by(dr.c.business_date, dr.c.kind)
            .order_by(dr.c.business_date, dr.c.kind))
    return [{**r, "count": as_int(r["count"])} for r in _rows(engine, stmt)]


def anomalies_by_detector(engine: Engine, f: Filters) -> list[dict]:
    return [{**r, "count": r["count_anomalies"]} for r in anomaly_counts(engine, f)]


def daily_health(engine: Engine, f: Filters) -> list[dict]:
    return health_per_day(engine, f)


# --- tables and sheets -------------------------------------------------------------------------------------

OLDEST_FIRST = {"discrepancies": [{"colId": "business_date", "sort": "asc"}, {"colId": "first_seen_at", "sort": "asc"},
                                  {"colId": "discrepancy_id", "sort": "asc"}],
                "anomalies": [{"colId": "business_date", "sort": "asc"}, {"colId": "detected_at", "sort": "asc"}],
                "overdraft-events": [{"colId": "ts", "sort": "asc"}]}
SHARED_TABLES = {"discrepancies": DISCREPANCIES, "anomalies": ANOMALIES, "overdraft-events": OVERDRAFT_EVENTS}


def shared_columns(name: str) -> tuple[str, ...]:
    """The columns of a dashboard table, in the dashboard's order."""
    return tuple(c.field for c in SHARED_TABLES[name].columns)


def shared_rows(engine: Engine, name: str, f: Filters, **params) -> Iterator[dict]:
    """Every row of a dashboard table (the grid's own query), oldest first, streamed."""
    return all_rows(engine, SHARED_TABLES[name], f, sort_model=OLDEST_FIRST[name], **params)


def shared_tuples(engine: Engine, name: str, f: Filters) -> Iterator[tuple]:
    """Like shared_rows, as tuples in the grid's column order (the same statement; no dict per row)."""
    tq = SHARED_TABLES[name]
    stmt = tq.statement(f, sort_model=OLDEST_FIRST[name])
    with engine.connect() as conn:
        require(conn, *tq.needs)
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        yield from result


def open_discrepancies_by_stake(engine: Engine, f: Filters, limit: int) -> list[dict]:
    return list(all_rows(engine, DISCREPANCIES, f, status="open", limit=limit,
                         sort_model=[{"colId": "amount_at_stake", "sort": "desc"}]))


def high_anomalies(engine: Engine, f: Filters, limit: int) -> list[dict]:
    return list(all_rows(engine, ANOMALIES, f, severity="high", limit=limit,
                         sort_model=[{"colId": "score", "sort": "desc"}]))


def user_balances(engine: Engine, f: Filters) -> list[dict]:
    """One row per user, in the user's latest currency (current state; the date range does not apply)."""
    ub = t.user_balances
    return _rows(engine, select(ub).where(*currency_is(ub.c.currency, f)).order_by(ub.c.user_id, ub.c.currency))


def by_source(engine: Engine, f: Filters) -> list[dict]:
    """daily_flows summed over the period per currency, type, source and action."""
    fl = t.daily_flows
    keys = (fl.c.currency, fl.c.type, fl.c.source, fl.c.action)
    sums = ("count_transactions", "total_amount", "total_vat", "total_net")
    stmt = (select(*keys, *(func.sum(fl.c[n]).label(n) for n in sums))
            .where(*_where(fl, f)).group_by(*keys).order_by(*keys))
    return [{**r, **{n: as_int(r[n]) for n in sums}} for r in _rows(engine, stmt)]


def ledger(engine: Engine, f: Filters, columns: Sequence[str]) -> Iterator[tuple]:
    """balance_events in time order, as tuples of the given columns (streamed).

    `ts` comes as epoch milliseconds (`ts_ms`, the same instant): cheaper to turn into a spreadsheet time.
    """
    be = t.balance_events
    stmt = (select(*(be.c.ts_ms.label("ts") if n == "ts" else be.c[n] for n in columns)).where(*_where(be, f))
            .order_by(be.c.ts, be.c.transaction_id))
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        yield from result


# Files whose event texts the raw CSV holds at once: rows in time order come from the few files of a day.
RAW_CSV_FILES = 256
PARSED_EVENT_COLUMNS = COLUMNS


def parsed_events(engine: Engine, f: Filters) -> Iterator[tuple]:
    """Every log event in the period (the auditors' raw CSV, db/events.py), streamed in the order they were
    logged. `text` is the event's whole text, read from its file's kept text (ingest/texts.py); for a file
    ingested before texts were kept, the first line parsed_logs holds."""
    counts = s.file_event_counts.c
    files = None
    if f.date_from or f.date_to:  # the period's files (file_event_counts): parsed_logs finds their rows by index
        files = select(counts.file_id).where(*date_range(counts.business_date, f))
    events = every_event(f.date_from_text, f.date_to_text, files=files).subquery()
    stmt = select(*(events.c[n] for n in COLUMNS)).order_by(events.c.ts, events.c.file_id, events.c.line_no)
    at = {n: i for i, n in enumerate(COLUMNS)}
    file_id, line_no, text = at["file_id"], at["line_no"], at["text"]
    with engine.connect() as conn, engine.connect() as texts_conn:
        texts = EventTexts(texts_conn, files=RAW_CSV_FILES) if "file_texts" in table_names(texts_conn) else None
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        for row in result:
            if texts is None or row[text] is not None:
                yield row
                continue
            row = list(row)
            row[text] = texts.get(row[file_id], row[line_no])
            yield row


# --- daily overdrafts ---------------------------------------------------------------------------------------

def daily_overdrafts(engine: Engine, business_date: str, currency: str | None = None) -> list[dict]:
    """Users overdrawn at the end of one business day, or who went below zero during it.

    status: `new` (not overdrawn before the day, below zero during it), `ongoing`
    (overdrawn before the day and still at its end), `resolved` (overdrawn
    before the day, back at or above zero at its end), or `refused` (the
    Lambda's negative-balance guard refused a transaction that day, reason
    `guard`: the dashboard counts these as overdraft events too). Balances are
    those of the user's last transaction up to the end of the day.
    """
    be = t.balance_events
    over = _overdrawn(be)
    scope = [be.c.business_date <= business_date, be.c.user_id.isnot(None)]
    if currency:
        scope.append(be.c.currency == currency)
    columns = (be.c.user_id, be.c.currency, be.c.business_date, be.c.ts, be.c.transaction_id, be.c.new_balance,
               be.c.expected_new_balance, be.c.payment_balance, be.c.overdraft_reason, _flag(over).label("is_over"))
    by_user: dict[tuple, dict] = {}
    with engine.connect() as conn:
        # Only users ever below zero up to that day matter: one plain scan finds them (no GROUP BY, which
        # would make SQLite walk the user index and fetch every row at random), then their histories are
        # read in user order through that index, a chunk of users at a time.
        candidates = sorted({(u, c) for u, c in conn.execute(select(be.c.user_id, be.c.currency)
                                                              .where(*scope, over))}, key=lambda k: (k[0], k[1] or ""))
        users = sorted({u for u, _ in candidates})
        wanted = set(candidates)
        for start in range(0, len(users), USERS_PER_QUERY):
            chunk = users[start:start + USERS_PER_QUERY]
            stmt = (select(*columns).where(*scope, be.c.user_id.in_(chunk))
                    .order_by(be.c.user_id, be.c.ts, be.c.transaction_id))
            for r in conn.execute(stmt).mappings():
                key = (r["user_id"], r["currency"])
                if key not in wanted:
                    continue
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
    out += _guard_refusals(engine, business_date, currency)
    order_status = {"new": 0, "ongoing": 1, "resolved": 2, "refused": 3}
    out.sort(key=lambda r: (order_status[r["status"]], r["currency"] or "", -r["overdraft_amount"], r["user_id"]))
    return out


def _guard_refusals(engine: Engine, business_date: str, currency: str | None) -> list[dict]:
    g, be = s.negative_balance_guards, t.balance_events
    # The refusal names no currency: the refused transaction's, else the user's latest (as the dashboard does).
    linked = select(be.c.currency).where(be.c.transaction_id == g.c.transaction_id).scalar_subquery()
    latest = (select(be.c.currency).where(be.c.user_id == g.c.user_id, be.c.business_date <= business_date)
              .order_by(be.c.ts.desc()).limit(1).scalar_subquery())
    cur = func.coalesce(linked, latest).label("currency")
    stmt = (select(g.c.user_id, cur, g.c.current_balance, g.c.transaction_id, g.c.ts)
            .where(g.c.business_date == business_date).order_by(g.c.ts, g.c.event_id))
    out = []
    for r in _rows(engine, stmt):
        if currency and r["currency"] != currency:
            continue
        out.append({"business_date": business_date, "status": "refused", "user_id": r["user_id"],
                    "currency": r["currency"], "balance": r["current_balance"], "payment_balance": None,
                    "expected_balance": None, "overdraft_amount": 0, "overdraft_reason": "guard",
                    "overdrawn_since": None, "count_overdraft_transactions": 0,
                    "last_transaction_id": r["transaction_id"], "last_transaction_at": r["ts"]})
    return out


def overdraft_amount(row: dict) -> int:
    """How far below zero, as a positive amount: the deepest of the three balances (0 if none is negative)."""
    values = [row.get(k) for k in ("new_balance", "expected_new_balance", "payment_balance")]
    return max([0] + [-v for v in values if v is not None and v < 0])


# --- weekly reconciliation ---------------------------------------------------------------------------------

def covers(engine: Engine, date_from: str, date_to: str) -> bool:
    """True when the data's business dates span the whole period (a week the logs cover in part is partial)."""
    first, last = business_date_range(engine)
    return first is not None and first <= date_from and last >= date_to


def weekly_reconciliation(engine: Engine, date_from: str, date_to: str, utc_from: str, utc_to: str,
                          currency: str | None = None) -> list[dict]:
    """Per currency and kind: issues opened, resolved and still open in one week, with amounts.

    An issue was *opened* in the week when it was first seen on one of its business dates, *resolved* when
    `resolved_at` (UTC) falls between the week's first and last instant (utc_from inclusive, utc_to
    exclusive), and is *still open* at the end of the week when it was opened by then and not resolved by
    then. Amounts: an out_of_sync episode's gap when it opened (opened), its largest gap (resolved) and its
    gap after its last transaction before the week's end (still open: the exposure at the week's end); a
    calculation or continuity break's difference.
    """
    dr, dt = t.discrepancy_report, t.discrepancy_transactions
    opened = dr.c.business_date.between(date_from, date_to)
    resolved = and_(dr.c.resolved_at >= utc_from, dr.c.resolved_at < utc_to)
    still_open = and_(dr.c.first_seen_at < utc_to, or_(dr.c.resolved_at.is_(None), dr.c.resolved_at >= utc_to))
    episode = dr.c.kind == "out_of_sync"
    # the gap after an episode's last transaction before the week's end (one subquery level, so it correlates
    # with the episode: a nested one would not)
    gap_at_end = (select(func.abs(dt.c.gap))
                  .where(dt.c.discrepancy_id == dr.c.discrepancy_id, dt.c.role == "out_of_sync", dt.c.ts < utc_to)
                  .order_by(dt.c.position.desc()).limit(1).scalar_subquery())

    def amount(cond, episode_amount):
        return func.sum(case((cond, func.coalesce(case((episode, episode_amount), else_=dr.c.amount_at_stake), 0)),
                             else_=0))

    def count(cond):
        return func.sum(case((cond, 1), else_=0))

    where = [dr.c.business_date <= date_to, dr.c.kind != "untied_error"]
    if currency:
        where.append(dr.c.currency == currency)
    stmt = (select(func.coalesce(dr.c.currency, literal("")).label("currency"), dr.c.kind,
                   count(opened).label("count_opened"),
                   amount(opened, func.abs(dr.c.opening_gap)).label("amount_opened"),
                   count(resolved).label("count_resolved"), amount(resolved, dr.c.max_abs_gap).label("amount_resolved"),
                   count(still_open).label("count_still_open"),
                   amount(still_open, gap_at_end).label("amount_still_open"))
            .where(*where).group_by(dr.c.currency, dr.c.kind).order_by(dr.c.currency, dr.c.kind))
    rows = [{k: v if k in ("currency", "kind") else as_int(v) for k, v in r.items()} for r in _rows(engine, stmt)]
    partial = not covers(engine, date_from, date_to)
    return [dict(r, week_from=date_from, week_to=date_to, is_partial_week=partial) for r in rows
            if r["count_opened"] or r["count_resolved"] or r["count_still_open"]]
