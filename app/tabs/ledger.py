"""A user's ledger (`/ledger/<user id>`): balance over time and every transaction with its checks
(expected balance, mismatch, continuity, overdraft reason, linked discrepancy) and provenance (file, line).
The global date and currency filters apply; the user is the path."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import grid, urlstate
from app.context import AppContext
from app.grid import CURRENCY_WIDTH, ULID_WIDTH, GridColumn, GridView
from app.tabs import DEFAULT, tab_for_path
from app.tabs.trends import balance_figure
from app.ui import count, graph, kpi, kpi_row, no_rows, register_sections, section, slot
from queries import USER_LEDGER, balance_history, user_discrepancies, user_exists, user_summary, with_discrepancies

NAME = "ledger"


def _params(params: dict, pathname: str | None) -> dict:
    return {"user_id": urlstate.ledger_user(pathname)}


# The balance and the payment (wallet) balance side by side, the checks after them, provenance last.
GRID = grid.add(GridView(NAME, USER_LEDGER, (
    GridColumn("ts", "Time (UTC)", pinned="left"), GridColumn("currency", "Cur.", CURRENCY_WIDTH),
    GridColumn("type", "Type", 80), GridColumn("action", "Action", 250), GridColumn("amount", "Amount"),
    GridColumn("vat", "VAT", 110), GridColumn("old_balance", "Old balance"), GridColumn("new_balance", "New balance"),
    GridColumn("payment_balance", "Payment balance"), GridColumn("expected_new_balance", "Expected new balance"),
    GridColumn("calc_difference", "Calc. difference"), GridColumn("is_calc_mismatch", "Mismatch", 90),
    GridColumn("prev_new_balance", "Previous new balance"), GridColumn("continuity_gap", "Continuity gap"),
    GridColumn("is_continuity_break", "Break", 80), GridColumn("overdraft_reason", "Overdraft", 105),
    GridColumn("discrepancies", "Discrepancies", 330, link="issue"),
    GridColumn("transaction_id", "Transaction", ULID_WIDTH), GridColumn("source", "Source", 160),
    GridColumn("business_date", "Business day"), GridColumn("schema", "Schema", 85),
    GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80)),
    key=urlstate.LEDGER_GRID, noun="transactions", none="this user has no transaction in the database",
    params=_params, enrich=lambda ctx, rows: with_discrepancies(ctx.engine, rows), scope=("dates", "currency")))


def back_link(params: dict) -> tuple[str, str]:
    """(label, href) of the ledger's back link: the page it was opened from, else Transaction Trends with the
    global filters."""
    target = urlstate.back_target(params)
    tab = tab_for_path(target.partition("?")[0]) if target else None
    if tab is None:
        return DEFAULT.label, DEFAULT.path + urlstate.global_search(urlstate.encode(params))
    return tab.label, target


def layout(ctx: AppContext, user_id: str, params: dict) -> html.Div:
    label, href = back_link(params)
    every = grid.without_grid_params(params, GRID)
    narrowed = html.Div(["The transactions below are filtered (a link to one transaction, or the grid's column "
                         "filters). ", dcc.Link("Show every transaction", href=urlstate.ledger_path(user_id)
                                                + urlstate.encode(every), id="ledger-show-all")],
                        className="small text-muted mb-1") if len(every) < len(params) else None
    return html.Div([
        html.Div([
            dcc.Link("← " + label, href=href, className="small", id="ledger-back"),
            html.H4(["Ledger of ", html.Span(user_id, className="user-ref", id="ledger-user")], className="mt-1"),
        ], className="ledger-head"),
        slot("ledger-summary", 110),
        section("Balance over time", slot("ledger-balance", 340),
                subtitle="Balance after each transaction (UTC time), zero line, discrepancy markers"),
        section("Transactions", [narrowed, grid.component(GRID, params)],
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
