"""Tab 4, Anomaly Detection: transactions over time with anomalies highlighted by detector, counts by
detector and severity, and every finding with its explanation and the review panel of the selected one
(app/review.py). URL parameters: `detector`, `severity`, `review`."""
from __future__ import annotations

from collections import defaultdict

import dash_bootstrap_components as dbc
from dash import html

from app import grid, review, urlstate
from app.context import AppContext
from app.grid import CURRENCY_WIDTH, ULID_WIDTH, USER_WIDTH, GridColumn, GridView
from app.ui import (ANY, SEVERITY_COLORS, bar, count_axis, figure, graph, no_rows, param_id, register_sections,
                    scatter, section, select, slot)
from queries import (ANOMALIES, SEVERITIES, MissingTables, anomalies_per_day, anomaly_counts, detectors,
                     transactions_per_day)
from queries.base import one_of
from vocabulary import DETECTORS

NAME = "anomalies"
PARAMS = ("detector", "severity", review.PARAM)


def _params(params: dict, pathname=None) -> dict:
    detector = params.get("detector")
    return {"detector": detector if detector and len(detector) <= 64 else None,
            "severity": one_of(params.get("severity"), SEVERITIES)}


def _grid_params(params: dict, pathname=None) -> dict:
    """The grid's: the charts' filters and the review status."""
    return {**_params(params), **review.params(params)}


# The explanation comes right after what was found, on two lines: it reads without scrolling sideways.
GRID = grid.add(GridView(NAME, ANOMALIES, (
    GridColumn("detected_at", "Detected (UTC)"), GridColumn("detector", "Detector", 184),
    GridColumn("severity", "Severity", 96), GridColumn("explanation", "Explanation", 470, wrap=True),
    GridColumn("user_id", "User", USER_WIDTH, link="ledger"), GridColumn("currency", "Cur.", CURRENCY_WIDTH),
    GridColumn("amount", "Amount"), GridColumn("score", "Score"),
    GridColumn("transaction_id", "Transaction", ULID_WIDTH, link="transaction"),
    GridColumn("business_date", "Business day"),
    GridColumn("parameters", "Parameters", 240), GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80),
    GridColumn("anomaly_id", "Finding", 96))
    + review.GRID_COLUMNS, key="findings", noun="findings", none="no detector fired on these logs",
    params=_grid_params, row_height=48))


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
                subtitle=("Transactions per business day; under it, each detector's days with findings (size: "
                          "how many)"),
                tools=html.Div([
                    select(param_id(NAME, "detector"), [{"label": "All detectors", "value": ANY}] +
                           [{"label": d, "value": d} for d in names], p["detector"], label="Detector",
                           width="220px"),
                    select(param_id(NAME, "severity"), [{"label": "All severities", "value": ANY}] +
                           [{"label": s, "value": s} for s in SEVERITIES], p["severity"], label="Severity"),
                ], className="d-flex gap-2 align-items-end")),
        dbc.Row([dbc.Col(section("Findings by detector and severity", slot("anomalies-counts", 260)), lg=12)]),
        section("Findings", review.grid_component(GRID, params),
                subtitle=("Each finding with its explanation; click a user for the ledger, a transaction for its "
                          "ledger row, a row to review it"),
                tools=review.status_filter(NAME, params)),
        review.panel(GRID),
    ])


# Each detector its own colour and marker (the same on every view): fourteen detectors, fourteen pairs.
DETECTOR_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf", "#393b79", "#b8860b", "#637939", "#ad494a")
DETECTOR_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon", "hexagon", "star",
                    "circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon")
DETECTOR_STYLES = {d: (DETECTOR_COLORS[i % len(DETECTOR_COLORS)], DETECTOR_SYMBOLS[i % len(DETECTOR_SYMBOLS)])
                   for i, d in enumerate(DETECTORS)}


def detector_style(detector: str) -> tuple[str, str]:
    """(colour, marker symbol) of a detector; a name the vocabulary does not know is grey."""
    return DETECTOR_STYLES.get(detector, ("#6c757d", "circle-open"))


def render_timeline(ctx: AppContext, search: str, pathname=None):
    """Transactions per day on top; under it one row per detector with a marker on each day it found something
    (size: how many), so every detector of a day shows."""
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    tx = transactions_per_day(ctx.engine, f)
    found = anomalies_per_day(ctx.engine, f, **_params(params))
    if not tx and not found:
        return no_rows("No transactions in this period.")
    per_detector: dict[str, list[dict]] = defaultdict(list)
    for r in found:
        per_detector[r["detector"]].append(r)
    names = sorted(per_detector, key=lambda d: -sum(p["count_anomalies"] for p in per_detector[d]))
    strip = 24 * max(len(names), 1)  # pixels of the detector rows
    fig = figure(240 + strip, hovermode="closest", showlegend=False)
    share = strip / (240 + strip - 84)  # of the plot area (the figure less its top and bottom margins)
    fig.update_layout(yaxis={"domain": [share + 0.08, 1], "title": {"text": "transactions"},
                             "rangemode": "nonnegative"},
                      yaxis2={"domain": [0, share], "type": "category", "autorange": "reversed",
                              "categoryorder": "array", "categoryarray": names, "gridcolor": "#eef0f2",
                              "automargin": True, "tickfont": {"size": 11}},
                      xaxis={"type": "date", "anchor": "y2"})
    fig.add_trace(scatter(x=[t["business_date"] for t in tx], y=[t["count_transactions"] for t in tx],
                          mode="lines", name="transactions", line=dict(color="#9aa5b1", width=1.5), fill="tozeroy",
                          fillcolor="rgba(154,165,177,.15)", hovertemplate="%{x}: %{y:,} transactions<extra></extra>"))
    biggest = max((r["count_anomalies"] for r in found), default=1)
    for detector in names:
        pts = per_detector[detector]
        color, symbol = detector_style(detector)
        fig.add_trace(scatter(
            x=[p["business_date"] for p in pts], y=[detector] * len(pts), yaxis="y2", mode="markers", name=detector,
            marker=dict(color=color, symbol=symbol, opacity=.85, line=dict(width=.5, color="white"),
                        size=[6 + 12 * (p["count_anomalies"] / biggest) ** .5 for p in pts]),
            customdata=[p["count_anomalies"] for p in pts],
            hovertemplate=f"%{{x}}: %{{customdata:,}} {detector} finding(s)<extra></extra>"))
    return graph(fig, "anomalies-timeline-graph")


def render_counts(ctx: AppContext, search: str, pathname=None):
    """Findings per detector (most first), stacked by severity, with each detector's total at the bar's end."""
    params = urlstate.parse(search)
    rows = anomaly_counts(ctx.engine, urlstate.filters(params), **_params(params))
    if not rows:
        return no_rows("No findings match these filters.")
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        totals[r["detector"]] += r["count_anomalies"]
    names = sorted(totals, key=lambda d: (-totals[d], d))
    fig = figure(max(220, 30 * len(names) + 90), barmode="stack", hovermode="y unified",
                 margin=dict(l=160, r=30, t=30, b=40))
    for sev in SEVERITIES + tuple(sorted({r["severity"] for r in rows} - set(SEVERITIES))):
        n = {r["detector"]: r["count_anomalies"] for r in rows if r["severity"] == sev}
        if n:
            fig.add_trace(bar(y=names, x=[n.get(d, 0) for d in names], orientation="h", name=sev,
                              marker_color=SEVERITY_COLORS.get(sev, "#6c757d"),
                              hovertemplate=f"{sev}: %{{x:,}}<extra></extra>"))
    fig.add_trace(scatter(y=names, x=[totals[d] for d in names], mode="text", text=[f" {totals[d]:,}" for d in names],
                          textposition="middle right", showlegend=False, hoverinfo="skip", name="total"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title_text="findings", range=[0, max(totals.values()) * 1.12])
    count_axis(fig, max(totals.values()), "xaxis")
    return graph(fig, "anomalies-counts-graph")


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"anomalies-timeline": render_timeline, "anomalies-counts": render_counts})
    review.register(app, ctx, GRID)
