"""Tab 1, Transaction Trends: KPI cards, a user's balance history, credit vs debit, volume by source/action.

URL parameters: `by` (day | week | month; default auto: days up to two months, weeks beyond) and `uid` (the
user whose balance is drawn; default: the busiest user matching the filters).
"""
from __future__ import annotations

from collections import defaultdict

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import urlstate
from app.context import AppContext
from app.ui import (COLORS, PALETTE, Fig, bar, count, figure, graph, kpi, kpi_row, no_rows, param_id, register_sections,
                    scatter, section, select, slot)
from queries import (GRANULARITIES, MissingTables, balance_history, busiest_user, find_users, flow_series,
                     flow_totals, regroup, user_discrepancies, user_exists, volume_by_source_action)

NAME = "trends"
AUTO = "auto"
AUTO_MAX_DAYS = 62
PARAMS = ("by", "uid")
TOP_COMBOS = 12  # source/action pairs drawn one by one; the rest are summed


def layout(ctx: AppContext, params: dict) -> html.Div:
    by = params.get("by") if params.get("by") in GRANULARITIES else AUTO
    return html.Div([
        slot("trends-kpis", 110),
        dbc.Row([
            dbc.Col(section(
                "Balance history", slot("trends-balance", 360),
                subtitle="Balance after each transaction (UTC time); markers: discrepancies (shaded: out of sync)",
                tools=html.Div([
                    html.Label("User", className="form-label small text-muted mb-0"),
                    dbc.Input(id=param_id(NAME, "uid"), value=params.get("uid", ""), list="trends-users", size="sm",
                              debounce=True, placeholder="busiest user, or part of an id", style={"width": "300px"},
                              maxLength=urlstate.MAX_VALUE),
                    html.Datalist(id="trends-users"),
                ], className="param")), lg=7),
            dbc.Col(section("Volume by source and action", slot("trends-volume", 360),
                            subtitle="Number of transactions per source and action; hover for amounts"), lg=5),
        ], className="g-3"),
        section("Credit vs debit", slot("trends-flows", 320),
                subtitle="Gross amounts (VAT included) per business day, week or month, one chart per currency",
                tools=select(param_id(NAME, "by"), [{"label": "Auto", "value": AUTO}] +
                             [{"label": g.capitalize(), "value": g} for g in GRANULARITIES], by, label="Per")),
    ])


# --- sections --------------------------------------------------------------------------------------

def render_kpis(ctx: AppContext, search: str, pathname=None):
    f = urlstate.filters(search)
    totals = flow_totals(ctx.engine, f)
    if not totals:
        return no_rows("No transactions in this period" + (f" in {f.currency}." if f.currency else "."))
    if f.user:  # the daily totals are not per user: say so rather than look filtered
        return html.Div([html.Div(f"Totals of all users: the user search “{f.user}” applies to the balance "
                                  "history and the tables.", className="small text-muted mb-1"),
                         _kpi_cards(ctx, totals)])
    return _kpi_cards(ctx, totals)


def _kpi_cards(ctx: AppContext, totals: list[dict]):
    n = sum(t["count_transactions"] for t in totals)
    credits = sum(t["count_credits"] for t in totals)
    debits = sum(t["count_debits"] for t in totals)
    cards = [kpi("Transactions", count(n), f"{count(credits)} credits · {count(debits)} debits")]
    # a card per currency (money is never added across currencies) that adds up from what it shows
    cards += [net_card(ctx, t) for t in totals]
    return kpi_row(cards)


def net_card(ctx: AppContext, t: dict):
    """The net balance change of one currency and the four figures it is made of: credits − their VAT − debits
    + their VAT (a debit takes its amount net of VAT off the balance, as a credit adds its own)."""
    cur = t["currency"]
    net = t["net_change"]
    lines = (("credits", t["total_credit"]), ("− VAT on credits", t["vat_credit"]), ("− debits", t["total_debit"]),
             ("+ VAT on debits", t["vat_debit"]))
    table = html.Table(html.Tbody(
        [html.Tr([html.Td(label), html.Td(ctx.money(value, cur), className="num")]) for label, value in lines]
        + [html.Tr([html.Td("= net change"), html.Td(ctx.money(net, cur), className="num")], className="total")]),
        className="flow-sum")
    return kpi(f"{cur} net balance change", ctx.money(net, cur),
               html.Div([table, html.Div("credits − debits, net of VAT", className="kpi-line")]),
               tone="negative" if net < 0 else "positive")


def render_flows(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    by = params.get("by") if params.get("by") in GRANULARITIES else AUTO
    rows = flow_series(ctx.engine, f, "day")
    if not rows:
        return no_rows("No transactions in this period.")
    if by == AUTO:  # days for up to two months, weeks beyond: bars stay readable (and cheap to draw)
        by = "day" if len({r["period"] for r in rows}) <= AUTO_MAX_DAYS else "week"
    rows = regroup(rows, by)
    per_currency: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        per_currency[r["currency"]].append(r)
    names = sorted(per_currency)
    fig = figure(max(300, 60 + 130 * len(names)), barmode="group", bargap=0.15)
    fig.rows(names)
    in_legend: set[str] = set()
    for i, cur in enumerate(names, start=1):
        for direction in ("CREDIT", "DEBIT"):
            pts = [r for r in per_currency[cur] if r["type"] == direction]
            if not pts:
                continue
            fig.add_trace(bar(
                x=[p["period"] for p in pts],
                y=[ctx.plot_value(p["total_amount"]) for p in pts],  # float only to place the bar
                name=direction.capitalize(), legendgroup=direction, showlegend=direction not in in_legend,
                xaxis="x", yaxis="y" if i == 1 else f"y{i}",
                marker_color=COLORS[direction],
                customdata=[[ctx.money(p["total_amount"], cur), count(p["count_transactions"]),
                             ctx.money(p["total_vat"], cur)] for p in pts],
                hovertemplate=(f"{direction.lower()} %{{customdata[0]}} {cur} · %{{customdata[1]}} tx · "
                               "VAT %{customdata[2]}<extra></extra>")))
            in_legend.add(direction)
        if len(names) == 1:
            fig.update_yaxes(row=1, title_text=cur)
    fig.update_xaxes(type="date")
    return graph(fig, "trends-flows-graph")


def render_volume(ctx: AppContext, search: str, pathname=None):
    f = urlstate.filters(search)
    rows = volume_by_source_action(ctx.engine, f)
    if not rows:
        return no_rows("No transactions in this period.")
    combos: dict[tuple, dict] = {}
    for r in rows:  # counts add across currencies; amounts stay per currency in the hover text
        c = combos.setdefault((r["source"], r["action"]), {"n": 0, "amounts": []})
        c["n"] += r["count_transactions"]
        c["amounts"].append(f"{ctx.money(r['total_amount'], r['currency'])} {r['currency']}")
    ranked = sorted(combos.items(), key=lambda kv: -kv[1]["n"])
    shown, rest = ranked[:TOP_COMBOS], ranked[TOP_COMBOS:]
    sources = sorted({s for (s, _), _c in shown})
    color = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sources)}
    labels = [f"{s} · {a}" for (s, a), _c in shown]
    fig = figure(max(300, 26 * (len(shown) + bool(rest)) + 60), hovermode="closest",
                 margin=dict(l=10, r=20, t=10, b=30), showlegend=False)
    fig.add_trace(bar(
        y=labels + (["other combinations"] if rest else []),
        x=[c["n"] for _k, c in shown] + ([sum(c["n"] for _k, c in rest)] if rest else []),
        orientation="h", marker_color=[color[s] for (s, _a), _c in shown] + (["#adb5bd"] if rest else []),
        customdata=["<br>".join(c["amounts"]) for _k, c in shown] + ([""] if rest else []),
        texttemplate="%{x:,}", textposition="outside", cliponaxis=False, constraintext="none",
        hovertemplate="%{y}: %{x:,} transactions<br>%{customdata}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True, tickfont=dict(size=11))
    longest = max([c["n"] for _k, c in shown] + ([sum(c["n"] for _k, c in rest)] if rest else []))
    # room after the longest bar for its label (outside, never clipped by the plot's edge)
    fig.update_xaxes(showticklabels=False, showgrid=False, range=[0, longest * (1 + 0.07 * len(f"{longest:,}"))])
    return graph(fig, "trends-volume-graph")


def chosen_user(ctx: AppContext, params: dict) -> tuple[str | None, str]:
    """(user id, why this one): the `uid` parameter when it is a user's whole id, else the busiest user in the
    filters' period whose id contains it (a part of an id, as the global user search takes), else the busiest
    user matching the filters. None when nobody matching transacted in the period."""
    uid = (params.get("uid") or "").strip()
    f = urlstate.filters(params)
    try:
        if uid and user_exists(ctx.engine, uid):
            return uid, "Showing "
        found = busiest_user(ctx.engine, f, uid or None)
    except MissingTables:
        return None, ""
    if uid:
        return found, f"Busiest user whose id contains “{uid}”: "
    return found, "Busiest user matching the filters: "


def render_balance(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    uid, why = chosen_user(ctx, params)
    if not uid:
        typed = (params.get("uid") or "").strip()
        return no_rows(f"No user whose id contains “{typed}” has transactions in this period." if typed else
                       "No transactions in this period: no user to show.")
    history = balance_history(ctx.engine, uid, f)
    ledger = urlstate.ledger_href(uid, (pathname or "/trends") + (search or ""))
    header = html.Div([
        html.Span(why, className="text-muted"),
        dcc.Link(uid, href=ledger, className="user-ref"),
        html.Span(" · ", className="text-muted"),
        dcc.Link("open ledger →", href=ledger, id="trends-open-ledger"),
    ], className="small mb-1")
    if not history:
        return html.Div([header, no_rows(f"No transactions of {uid} in this period.")])
    return html.Div([header, graph(balance_figure(ctx, history, user_discrepancies(ctx.engine, uid, f)),
                                   "trends-balance-graph")])


def balance_figure(ctx: AppContext, history: list[dict], discrepancies: list[dict], height: int = 340) -> Fig:
    """Balance after each transaction per currency, a zero line, and discrepancy markers (shared with the ledger)."""
    fig = figure(height, hovermode="closest")
    per_currency: dict[str, list[dict]] = defaultdict(list)
    for h in history:
        per_currency[h["currency"]].append(h)
    for i, (cur, pts) in enumerate(sorted(per_currency.items())):
        fig.add_trace(scatter(
            x=[p["ts"] for p in pts], y=[ctx.plot_value(p["new_balance"]) for p in pts],
            mode="lines+markers", line_shape="hv", name=f"balance {cur}", line=dict(color=PALETTE[i % len(PALETTE)]),
            marker=dict(size=4),
            customdata=[[ctx.money(p["new_balance"], cur), p["type"] or "", ctx.money(p["amount"], cur),
                         p["transaction_id"], p["overdraft_reason"] or ""] for p in pts],
            hovertemplate=(f"%{{x}}<br>balance <b>%{{customdata[0]}} {cur}</b><br>%{{customdata[1]}} "
                           "%{customdata[2]} · %{customdata[3]}<br>%{customdata[4]}<extra></extra>")))
    fig.add_hline(0, dict(color=COLORS["zero"], width=1, dash="dash"))
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for d in discrepancies:
        if d["kind"] == "out_of_sync" and d.get("first_seen_at") and d.get("until"):
            # the episode's span: from its first out-of-sync transaction to the one that resolved it (or now)
            fig.add_span(d["first_seen_at"], d["until"], "#c2452d")
        if d.get("ts") and d.get("new_balance") is not None:
            by_kind[d["kind"]].append(d)
    symbols = {"out_of_sync": "x", "calculation": "triangle-up", "continuity": "square"}
    for kind, pts in sorted(by_kind.items()):
        fig.add_trace(scatter(
            x=[p["ts"] for p in pts], y=[ctx.plot_value(p["new_balance"]) for p in pts], mode="markers",
            name=f"{kind} discrepancy", marker=dict(symbol=symbols.get(kind, "circle-open"), size=11, color="#c2452d",
                                                     line=dict(width=1.5, color="#7a1f10")),
            customdata=[[p["discrepancy_id"], p["status"], ctx.money(p["amount_at_stake"], p["currency"]),
                         p["currency"] or "", (p["explanation"] or "")[:160]] for p in pts],
            hovertemplate=("%{customdata[0]} (%{customdata[1]})<br>at stake %{customdata[2]} "
                           "%{customdata[3]}<br>%{customdata[4]}<extra></extra>")))
    fig.update_xaxes(type="date")
    return fig


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"trends-kpis": render_kpis, "trends-flows": render_flows,
                                 "trends-volume": render_volume, "trends-balance": render_balance,
                                 "trends-users": user_datalist})


def user_datalist(ctx: AppContext, search: str, pathname=None) -> list:
    f = urlstate.filters(search)
    try:
        users = find_users(ctx.engine, f.user, f.currency, limit=30)
    except MissingTables:
        return []
    return [html.Option(value=u["user_id"], label=f"{u['count_transactions']:,} transactions") for u in users]
