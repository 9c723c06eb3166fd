"""A user's ledger (`/ledger/<user id>`): balance over time and every transaction with its checks
(expected balance, mismatch, continuity, overdraft reason, linked discrepancy) and provenance (file, line).
The global date and currency filters apply; the user is the path."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import grid, urlstate
from app.context import AppContext
from app.grid import GridColumn, GridView
from app.tabs.trends import balance_figure
from app.ui import count, graph, kpi, kpi_row, no_rows, register_sections, section, slot
from queries import USER_LEDGER, balance_history, user_discrepancies, user_exists, user_summary, with_discrepancies

NAME = "ledger"


def _params(params: dict, pathname: str | None) -> dict:
    return {"user_id": urlstate.ledger_user(pathname)}


GRID = grid.add(GridView(NAME, USER_LEDGER, (
    GridColumn("ts", "Time (UTC)", 210, pinned="left"), GridColumn("business_date", "Business day", 115),
    GridColumn("currency", "Cur.", 90), GridColumn("type", "Type", 85), GridColumn("source", "Source", 150),
    GridColumn("action", "Action", 190), GridColumn("amount", "Amount", 115), GridColumn("vat", "VAT", 95),
    GridColumn("old_balance", "Old balance", 125), GridColumn("new_balance", "New balance", 125),
    GridColumn("expected_new_balance", "Expected new", 125), GridColumn("calc_difference", "Calc. diff.", 105),
    GridColumn("is_calc_mismatch", "Mismatch", 95), GridColumn("prev_new_balance", "Prev. new balance", 145),
    GridColumn("continuity_gap", "Continuity gap", 125), GridColumn("is_continuity_break", "Break", 80),
    GridColumn("overdraft_reason", "Overdraft", 105), GridColumn("payment_balance", "Payment bal.", 120),
    GridColumn("discrepancies", "Discrepancies", 260), GridColumn("transaction_id", "Transaction", 240),
    GridColumn("schema", "Schema", 85), GridColumn("file", "File", 300), GridColumn("line_no", "Line", 75)),
    params=_params, enrich=lambda ctx, rows: with_discrepancies(ctx.engine, rows), height=600))


def layout(ctx: AppContext, user_id: str, params: dict) -> html.Div:
    back = urlstate.global_search(urlstate.encode(params))
    return html.Div([
        html.Div([
            dcc.Link("← Transaction Trends", href="/trends" + back, className="small"),
            html.H4(["Ledger of ", html.Span(user_id, className="user-ref", id="ledger-user")], className="mt-1"),
        ], className="ledger-head"),
        slot("ledger-summary", 110),
        section("Balance over time", slot("ledger-balance", 340),
                subtitle="Balance after each transaction (UTC time), zero line, discrepancy markers"),
        section("Transactions", grid.component(GRID),
                subtitle="Newest first. Checks: expected = old ± (amount − VAT); continuity = old balance vs the "
                         "previous new balance; provenance = file and line of the log block"),
    ])


def render_summary(ctx: AppContext, search: str, pathname: str | None):
    user = urlstate.ledger_user(pathname)
    if not user or not user_exists(ctx.engine, user):
        return dbc.Alert(["No transaction of user ", html.Code(user or ""), " is in the database."],
                         color="secondary")
    rows = user_summary(ctx.engine, user)
    cards = []
    for r in rows:
        cur = r["currency"]
        balance = r.get("balance")
        sub = [f"{count(r.get('count_transactions'))} transactions · last {str(r.get('last_seen_at') or '')[:10]}"]
        if r.get("payment_balance") is not None:
            sub.append(f" · payment {ctx.money(r['payment_balance'], cur)}")
        cards.append(kpi(f"{cur} balance now", ctx.money(balance, cur), "".join(sub),
                         tone="negative" if balance is not None and balance < 0 else ""))
        if "count_open_discrepancies" in r:
            cards.append(kpi(f"{cur} discrepancies", count(r.get("count_discrepancies")),
                             f"open {count(r.get('count_open_discrepancies'))} · "
                             f"continuity breaks {count(r.get('count_continuity_breaks'))} · "
                             f"anomalies {count(r.get('count_anomalies'))}"))
        if r.get("is_test_user"):
            cards.append(kpi("Test user", "yes", "excluded from totals by the reports"))
    return kpi_row(cards) if cards else no_rows()


def render_balance(ctx: AppContext, search: str, pathname: str | None):
    user = urlstate.ledger_user(pathname)
    if not user:
        return no_rows()
    f = urlstate.filters(search)
    history = balance_history(ctx.engine, user, f)
    if not history:
        return no_rows("No transactions of this user in this period.")
    return graph(balance_figure(ctx, history, user_discrepancies(ctx.engine, user, f), height=320),
                 "ledger-balance-graph")


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"ledger-summary": render_summary, "ledger-balance": render_balance})
