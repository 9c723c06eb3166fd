"""Tab 2, Overdraft Detection: users with a negative balance now, overdraft events with their reason, and
overdrafts over time. URL parameter: `reason` (actual | expected | wallet | crossing | guard)."""
from __future__ import annotations

from collections import defaultdict

from dash import html

from app import grid, urlstate
from app.context import AppContext
from app.grid import GridColumn, GridView
from app.ui import (ANY, PALETTE, bar, count, figure, graph, kpi, kpi_row, no_rows, param_id, register_sections,
                    section, select, slot)
from queries import OVERDRAFT_EVENTS, OVERDRAFT_REASONS, OVERDRAWN_USERS, overdraft_summary, overdrafts_per_day
from queries.base import one_of

NAME = "overdrafts"
PARAMS = ("reason",)
REASON_LABELS = {"actual": "Actual (new balance < 0)", "expected": "Expected (recomputed balance < 0)",
                 "wallet": "Wallet (payment balance < 0)", "crossing": "Crossing (went below 0)",
                 "guard": "Refused by the Lambda (guard)"}
REASON_COLORS = {"actual": "#c2452d", "expected": "#e08a1e", "wallet": "#8e44ad", "crossing": "#2458a6",
                 "guard": "#495057"}


def _reason(params: dict, pathname=None) -> dict:
    return {"reason": one_of(params.get("reason"), OVERDRAFT_REASONS)}


USERS_GRID = grid.add(GridView(NAME, OVERDRAWN_USERS, (
    GridColumn("user_id", "User", 315, pinned="left"), GridColumn("currency", "Cur.", 90),
    GridColumn("negative", "Negative", 150), GridColumn("balance", "Balance", 130),
    GridColumn("payment_balance", "Payment balance", 150),
    GridColumn("overdrawn_since", "Overdrawn since (UTC)", 190),
    GridColumn("wallet_overdrawn_since", "Wallet overdrawn since (UTC)", 230),
    GridColumn("last_seen_at", "Last seen (UTC)", 190),
    GridColumn("count_transactions", "Transactions", 120), GridColumn("count_open_discrepancies", "Open discr.", 120),
    GridColumn("is_test_user", "Test user", 100)), height=400, page_size=10))

EVENTS_GRID = grid.add(GridView(NAME, OVERDRAFT_EVENTS, (
    GridColumn("ts", "Time (UTC)", 210), GridColumn("business_date", "Business day", 120),
    GridColumn("user_id", "User", 315), GridColumn("currency", "Cur.", 90), GridColumn("reason", "Reason", 210),
    GridColumn("type", "Type", 90), GridColumn("amount", "Amount", 120), GridColumn("old_balance", "Old balance", 130),
    GridColumn("new_balance", "New balance", 130), GridColumn("expected_new_balance", "Expected", 130),
    GridColumn("payment_balance", "Payment bal.", 130), GridColumn("transaction_id", "Transaction", 240),
    GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80)), params=_reason))


def layout(ctx: AppContext, params: dict) -> html.Div:
    reason = one_of(params.get("reason"), OVERDRAFT_REASONS) or ""
    return html.Div([
        slot("overdrafts-summary", 110),
        section("Overdrafts over time", slot("overdrafts-timeline", 300),
                subtitle="Overdraft events per business day, by reason",
                tools=select(param_id(NAME, "reason"),
                             [{"label": "All reasons", "value": ANY}] +
                             [{"label": REASON_LABELS[r], "value": r} for r in OVERDRAFT_REASONS],
                             reason, label="Reason", width="260px")),
        section("Users with a negative balance now", grid.component(USERS_GRID),
                subtitle="Subscription balance or payment (wallet) balance below zero as of each user's last "
                         "transaction (the date range does not apply); click a user for the ledger"),
        section("Overdraft events", grid.component(EVENTS_GRID),
                subtitle="Flagged transactions and the Lambda's own negative-balance refusals; click a user for "
                         "the ledger"),
    ])


def render_summary(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    summary = overdraft_summary(ctx.engine, f)
    per_day = overdrafts_per_day(ctx.engine, f, one_of(params.get("reason"), OVERDRAFT_REASONS))
    by_reason: dict[str, int] = defaultdict(int)
    for r in per_day:
        by_reason[r["reason"]] += r["count_events"]
    n_balance = sum(s["count_users"] for s in summary)
    n_wallet = sum(s["count_wallet_users"] for s in summary)
    cards = [kpi("Negative balance now", count(n_balance), "users whose subscription balance is below 0",
                 tone="negative" if n_balance else ""),
             kpi("Negative wallet now", count(n_wallet), "users whose payment balance is below 0",
                 tone="negative" if n_wallet else "")]
    for s in summary:  # totals per currency, never added across currencies or across balance and wallet
        cur = s["currency"]
        if s["count_users"]:
            cards.append(kpi(f"{cur} negative balances", ctx.money(s["total_balance"], cur),
                             f"sum over {count(s['count_users'])} users", tone="negative"))
        if s["count_wallet_users"]:
            cards.append(kpi(f"{cur} negative wallets", ctx.money(s["total_wallet"], cur),
                             f"sum over {count(s['count_wallet_users'])} users", tone="negative"))
    cards.append(kpi("Overdraft events in period", count(sum(by_reason.values())),
                     " · ".join(f"{k} {count(v)}" for k, v in sorted(by_reason.items())) or "none"))
    return kpi_row(cards)


def render_timeline(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    rows = overdrafts_per_day(ctx.engine, urlstate.filters(params), one_of(params.get("reason"), OVERDRAFT_REASONS))
    if not rows:
        return no_rows("No overdraft events in this period.")
    per_reason: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        per_reason[r["reason"]].append(r)
    fig = figure(300, barmode="stack")
    for i, (reason, pts) in enumerate(sorted(per_reason.items())):
        fig.add_trace(bar(x=[p["business_date"] for p in pts], y=[p["count_events"] for p in pts],
                             name=reason, marker_color=REASON_COLORS.get(reason, PALETTE[i % len(PALETTE)]),
                             hovertemplate=f"{reason}: %{{y}}<extra></extra>"))
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="events")
    return graph(fig, "overdrafts-timeline-graph")


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"overdrafts-summary": render_summary, "overdrafts-timeline": render_timeline},
                      tab_params=PARAMS)
