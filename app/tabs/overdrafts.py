"""Tab 2, Overdraft Detection: users with a negative balance now, overdraft events with their reason, and
overdrafts over time. URL parameter: `reason` (actual | expected | wallet | crossing | guard)."""
from __future__ import annotations

from collections import defaultdict

from dash import html

from app import grid, urlstate
from app.context import AppContext
from app.grid import CURRENCY_WIDTH, ULID_WIDTH, USER_WIDTH, GridColumn, GridView
from app.ui import (ANY, PALETTE, bar, count, count_axis, figure, graph, kpi, kpi_row, no_rows, param_id,
                    register_sections, section, select, slot)
from queries import OVERDRAFT_EVENTS, OVERDRAFT_REASONS, OVERDRAWN_USERS, overdraft_summary, overdrafts_per_day
from queries.base import one_of

NAME = "overdrafts"
PARAMS = ("reason",)
REASON_LABELS = {"actual": "Actual (new balance < 0)", "expected": "Expected (recomputed balance < 0)",
                 "wallet": "Wallet (payment balance < 0)", "crossing": "Crossing (went below 0)",
                 "guard": "Refused by the Lambda (guard)"}
# one line per reason, shown on the tab (the same words as docs/dashboard.md)
REASON_MEANINGS = {
    "actual": "the balance the Lambda wrote after the transaction is below zero",
    "expected": "the balance recomputed from the previous one (old ± (amount − VAT)) is below zero",
    "wallet": "the payment (wallet) balance logged with the transaction is below zero",
    "crossing": "the transaction took the balance from zero or more to below zero",
    "guard": "the Lambda refused a transaction that would have taken the balance below zero",
}
REASON_COLORS = {"actual": "#c2452d", "expected": "#e08a1e", "wallet": "#8e44ad", "crossing": "#2458a6",
                 "guard": "#495057"}


def _reason(params: dict, pathname=None) -> dict:
    return {"reason": one_of(params.get("reason"), OVERDRAFT_REASONS)}


# Sorted by the negative figure that lists the user (the balance, else the wallet), within one currency at a
# time; the balance and the payment balance side by side.
USERS_GRID = grid.add(GridView(NAME, OVERDRAWN_USERS, (
    GridColumn("user_id", "User", USER_WIDTH, pinned="left", link="ledger"),
    GridColumn("currency", "Cur.", CURRENCY_WIDTH),
    GridColumn("negative", "Negative", 150), GridColumn("negative_amount", "Negative amount"),
    GridColumn("balance", "Balance"), GridColumn("payment_balance", "Payment balance"),
    GridColumn("overdrawn_since", "Overdrawn since (UTC)"),
    GridColumn("wallet_overdrawn_since", "Wallet overdrawn since (UTC)"),
    GridColumn("last_seen_at", "Last seen (UTC)"),
    GridColumn("count_transactions", "Transactions"), GridColumn("count_open_discrepancies", "Open discrepancies"),
    GridColumn("is_test_user", "Test user")),
    key="users", noun="users with a negative balance", none="every user's balance and wallet are zero or more",
    page_size=10, scope=("currency", "user")))

EVENTS_GRID = grid.add(GridView(NAME, OVERDRAFT_EVENTS, (
    GridColumn("ts", "Time (UTC)"), GridColumn("user_id", "User", USER_WIDTH, link="ledger"),
    GridColumn("currency", "Cur.", CURRENCY_WIDTH), GridColumn("reason", "Reason", 150), GridColumn("type", "Type", 80),
    GridColumn("amount", "Amount"), GridColumn("old_balance", "Old balance"), GridColumn("new_balance", "New balance"),
    GridColumn("payment_balance", "Payment balance"), GridColumn("expected_new_balance", "Expected new balance"),
    GridColumn("transaction_id", "Transaction", ULID_WIDTH, link="transaction"),
    GridColumn("business_date", "Business day"),
    GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80)),
    key="events", noun="overdraft events", none="no transaction took a balance below zero and the Lambda refused "
                                                "none", params=_reason))


def layout(ctx: AppContext, params: dict) -> html.Div:
    reason = one_of(params.get("reason"), OVERDRAFT_REASONS) or ""
    return html.Div([
        slot("overdrafts-summary", 110),
        section("Overdrafts over time", [slot("overdrafts-timeline", 300), reason_legend()],
                subtitle="Overdraft events per business day, by reason",
                tools=select(param_id(NAME, "reason"),
                             [{"label": "All reasons", "value": ANY}] +
                             [{"label": REASON_LABELS[r], "value": r} for r in OVERDRAFT_REASONS],
                             reason, label="Reason", width="260px")),
        section("Users with a negative balance now", grid.component(USERS_GRID, params),
                subtitle="Subscription balance or payment (wallet) balance below zero as of each user's last "
                         "transaction (the date range does not apply); click a user for the ledger"),
        section("Overdraft events", grid.component(EVENTS_GRID, params),
                subtitle="Flagged transactions and the Lambda's own negative-balance refusals; click a user for "
                         "the ledger"),
    ])


def reason_legend() -> html.Dl:
    """What each reason means, one line each."""
    return html.Dl([part for reason in OVERDRAFT_REASONS for part in (
        html.Dt(html.Span(reason, className="reason-swatch", style={"borderColor": REASON_COLORS[reason]})),
        html.Dd(REASON_MEANINGS[reason]))], className="reason-legend small mb-0", id="overdrafts-reasons")


def users(n: int) -> str:
    return f"{count(n)} user{'' if n == 1 else 's'}"


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
                             f"sum over {users(s['count_users'])}", tone="negative"))
        if s["count_wallet_users"]:
            cards.append(kpi(f"{cur} negative wallets", ctx.money(s["total_wallet"], cur),
                             f"sum over {users(s['count_wallet_users'])}", tone="negative"))
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
    per_day: dict[str, int] = defaultdict(int)
    for r in rows:
        per_day[r["business_date"]] += r["count_events"]
    count_axis(fig, max(per_day.values()))
    return graph(fig, "overdrafts-timeline-graph")


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"overdrafts-summary": render_summary, "overdrafts-timeline": render_timeline})
