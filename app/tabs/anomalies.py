"""Tab 4, Anomaly Detection: transactions over time with anomalies highlighted by detector, counts by
detector and severity, and every finding with its explanation and the review panel of the selected one
(app/review.py). URL parameters: `detector`, `severity`, `review`."""
from __future__ import annotations

from collections import defaultdict

import dash_bootstrap_components as dbc
from dash import html

from app import grid, review, urlstate
from app.context import AppContext
from app.grid import GridColumn, GridView
from app.ui import (ANY, PALETTE, SEVERITY_COLORS, bar, figure, graph, no_rows, param_id, register_sections, scatter,
                    section, select, slot)
from queries import (ANOMALIES, SEVERITIES, MissingTables, anomalies_per_day, anomaly_counts, detectors,
                     transactions_per_day)
from queries.base import one_of

NAME = "anomalies"
PARAMS = ("detector", "severity", review.PARAM)


def _params(params: dict, pathname=None) -> dict:
    detector = params.get("detector")
    return {"detector": detector if detector and len(detector) <= 64 else None,
            "severity": one_of(params.get("severity"), SEVERITIES)}


def _grid_params(params: dict, pathname=None) -> dict:
    """The grid's: the charts' filters and the review status."""
    return {**_params(params), **review.params(params)}


GRID = grid.add(GridView(NAME, ANOMALIES, (
    GridColumn("detected_at", "Detected (UTC)", 210), GridColumn("business_date", "Business day", 120),
    GridColumn("detector", "Detector", 160), GridColumn("severity", "Severity", 100), GridColumn("score", "Score", 95),
    GridColumn("user_id", "User", 315), GridColumn("currency", "Cur.", 90), GridColumn("amount", "Amount", 120),
    GridColumn("explanation", "Explanation", 420), GridColumn("transaction_id", "Transaction", 240),
    GridColumn("parameters", "Parameters", 240), GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80),
    GridColumn("anomaly_id", "Finding", 200))
    + review.GRID_COLUMNS, params=_grid_params))


def layout(ctx: AppContext, params: dict) -> html.Div:
    p = _params(params)
    try:
        names = detectors(ctx.engine)
    except MissingTables:
        names = []
    if p["detector"] and p["detector"] not in names:
        names.append(p["detector"])
    return html.Div([
        section("Transactions and anomalies over time", slot("anomalies-timeline", 320),
                subtitle="Transactions per business day; markers: days with findings, by detector (size: number)",
                tools=html.Div([
                    select(param_id(NAME, "detector"), [{"label": "All detectors", "value": ANY}] +
                           [{"label": d, "value": d} for d in names], p["detector"], label="Detector",
                           width="220px"),
                    select(param_id(NAME, "severity"), [{"label": "All severities", "value": ANY}] +
                           [{"label": s, "value": s} for s in SEVERITIES], p["severity"], label="Severity"),
                ], className="d-flex gap-2 align-items-end")),
        dbc.Row([dbc.Col(section("Findings by detector and severity", slot("anomalies-counts", 260)), lg=12)]),
        section("Findings", review.grid_component(GRID), subtitle="Each finding with its explanation; click a user for "
                                                                "the ledger, a row to review it",
                tools=review.status_filter(NAME, params)),
        review.panel(GRID),
    ])


def render_timeline(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    tx = transactions_per_day(ctx.engine, f)
    found = anomalies_per_day(ctx.engine, f, **_params(params))
    if not tx and not found:
        return no_rows("No transactions in this period.")
    per_day = {t["business_date"]: t["count_transactions"] for t in tx}
    fig = figure(320, hovermode="closest")
    fig.add_trace(scatter(x=list(per_day), y=list(per_day.values()), mode="lines", name="transactions",
                             line=dict(color="#9aa5b1", width=1.5), fill="tozeroy", fillcolor="rgba(154,165,177,.15)",
                             hovertemplate="%{x}: %{y:,} transactions<extra></extra>"))
    per_detector: dict[str, list[dict]] = defaultdict(list)
    for r in found:
        per_detector[r["detector"]].append(r)
    biggest = max((r["count_anomalies"] for r in found), default=1)
    for i, (detector, pts) in enumerate(sorted(per_detector.items())):
        fig.add_trace(scatter(
            x=[p["business_date"] for p in pts], y=[per_day.get(p["business_date"], 0) for p in pts],
            mode="markers", name=detector,
            marker=dict(color=PALETTE[(i + 1) % len(PALETTE)], opacity=.8, line=dict(width=1, color="white"),
                        size=[8 + 14 * (p["count_anomalies"] / biggest) ** .5 for p in pts]),
            customdata=[p["count_anomalies"] for p in pts],
            hovertemplate=f"%{{x}}: %{{customdata}} {detector} finding(s)<extra></extra>"))
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="transactions")
    return graph(fig, "anomalies-timeline-graph")


def render_counts(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    rows = anomaly_counts(ctx.engine, urlstate.filters(params), **_params(params))
    if not rows:
        return no_rows("No findings match these filters.")
    names = sorted({r["detector"] for r in rows})
    fig = figure(max(220, 40 * len(names) + 80), barmode="stack", hovermode="y unified",
                 margin=dict(l=160, r=20, t=30, b=40))
    for sev in SEVERITIES + tuple(sorted({r["severity"] for r in rows} - set(SEVERITIES))):
        n = {r["detector"]: r["count_anomalies"] for r in rows if r["severity"] == sev}
        if n:
            fig.add_trace(bar(y=names, x=[n.get(d, 0) for d in names], orientation="h", name=sev,
                                 marker_color=SEVERITY_COLORS.get(sev, "#6c757d"),
                                 hovertemplate=f"{sev}: %{{x:,}}<extra></extra>"))
    fig.update_xaxes(title_text="findings")
    return graph(fig, "anomalies-counts-graph")


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"anomalies-timeline": render_timeline, "anomalies-counts": render_counts},
                      tab_params=PARAMS)
    review.register(app, ctx, GRID, tab_params=PARAMS)
