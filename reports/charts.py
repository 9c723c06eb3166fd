"""Plotly figures for the HTML report, one function per chart, rows in and a figure out.

Money charts get one panel per currency (never one axis for two currencies).
Plotted values are floats for drawing only; the figures a reader copies come
from the tables and cards, which are exact.
"""
from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports import cells

SEVERITY_COLOURS = {"high": "#c0392b", "medium": "#e67e22", "low": "#95a5a6"}
KIND_COLOURS = {"out_of_sync": "#2980b9", "untied_error": "#8e44ad", "calculation": "#c0392b", "continuity": "#16a085"}
HEIGHT_PER_PANEL = 220
# the page's own sans-serif stack (reports/templates/report.css)
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'


def _layout(fig: go.Figure, title: str, height: int = 360, dates: bool = False) -> go.Figure:
    if dates:  # whole business days: no hours on the axis
        fig.update_xaxes(tickformat="%Y-%m-%d")
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=50, b=40), template="plotly_white",
                      legend=dict(orientation="h", y=-0.15), font=dict(family=FONT))
    return fig


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text="nothing in this period", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, 200)


def net_flow(rows: list[dict], precision: dict[str, int]) -> go.Figure:
    """Daily credits minus debits (net of VAT), one panel per currency."""
    title = "Daily net flow per currency (credits − debits, net of VAT)"
    by_cur: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_cur[r["currency"] or "?"].append(r)
    if not by_cur:
        return _empty(title)
    currencies = sorted(by_cur)
    fig = make_subplots(rows=len(currencies), cols=1, shared_xaxes=True, subplot_titles=currencies,
                        vertical_spacing=0.08 if len(currencies) > 1 else 0.2)
    for i, cur in enumerate(currencies, start=1):
        data = by_cur[cur]
        values = [cells.money_number(r["net_flow"], cur, precision) for r in data]
        fig.add_trace(go.Bar(x=[r["business_date"] for r in data], y=values, name=cur,
                             marker_color=["#27ae60" if v >= 0 else "#c0392b" for v in values],
                             hovertemplate=f"%{{x}}<br>%{{y:,.{cells.places_of(cur, precision)}f}} {cur}"
                                           "<extra></extra>"),
                      row=i, col=1)
    fig.update_layout(showlegend=False)
    return _layout(fig, title, max(300, HEIGHT_PER_PANEL * len(currencies)), dates=True)


def top_overdrafts(rows: list[dict], precision: dict[str, int], user=lambda u: u, per_currency: int = 10) -> go.Figure:
    """The deepest current overdrafts (balance or wallet below zero), one panel per currency, as positive bars."""
    title = "Top overdrafts now: how far below zero (subscription balance or payment wallet)"
    by_cur: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for r in rows:
        cur = r["currency"] or "?"
        depth = max(0, -(r["balance"] or 0), -(r["payment_balance"] or 0))  # micro-units
        by_cur[cur].append((cells.money_number(depth, cur, precision), user(r["user_id"])))
    if not by_cur:
        return _empty(title)
    currencies = sorted(by_cur)
    bars = [min(len(by_cur[c]), per_currency) for c in currencies]
    fig = make_subplots(rows=len(currencies), cols=1, subplot_titles=currencies, vertical_spacing=0.25 / len(bars),
                        row_heights=[n + 1 for n in bars])
    for i, cur in enumerate(currencies, start=1):
        data = sorted(by_cur[cur], reverse=True)[:per_currency][::-1]  # deepest at the top
        fig.add_trace(go.Bar(x=[d for d, _ in data], y=[u for _, u in data], orientation="h", name=cur,
                             marker_color="#c0392b",
                             hovertemplate=f"%{{y}}<br>%{{x:,.{cells.places_of(cur, precision)}f}} {cur} below zero"
                                           "<extra></extra>"),
                      row=i, col=1)
    fig.update_yaxes(automargin=True, tickfont=dict(size=10), dtick=1)  # every user labelled
    fig.update_xaxes(rangemode="nonnegative")
    fig.update_layout(showlegend=False)
    return _layout(fig, title, max(300, 80 + 22 * sum(bars) + 70 * len(currencies)))


def mismatches(rows: list[dict]) -> go.Figure:
    """Issues first seen per business date, stacked by kind (counts)."""
    title = "Issues first seen per day, by kind"
    if not rows:
        return _empty(title)
    fig = go.Figure()
    for kind in sorted({r["kind"] for r in rows}):
        data = [r for r in rows if r["kind"] == kind]
        fig.add_trace(go.Bar(x=[r["business_date"] for r in data], y=[r["count"] for r in data], name=kind,
                             marker_color=KIND_COLOURS.get(kind)))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(rangemode="nonnegative")  # counts
    return _layout(fig, title, dates=True)


def anomalies_by_detector(rows: list[dict]) -> go.Figure:
    title = "Anomalies by detector and severity"
    if not rows:
        return _empty(title)
    fig = go.Figure()
    detectors = sorted({r["detector"] for r in rows})
    for sev in ("high", "medium", "low"):
        counts = {r["detector"]: r["count"] for r in rows if r["severity"] == sev}
        if counts:
            fig.add_trace(go.Bar(x=detectors, y=[counts.get(d, 0) for d in detectors], name=sev,
                                 marker_color=SEVERITY_COLOURS[sev]))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(rangemode="nonnegative")
    return _layout(fig, title)


def cold_starts(rows: list[dict]) -> go.Figure:
    """Per day: cold starts (bars) and invocations (line, right axis)."""
    title = "Cold starts and invocations per day"
    if not rows:
        return _empty(title)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    days = [r["business_date"] for r in rows]
    fig.add_trace(go.Bar(x=days, y=[r["count_cold_starts"] or 0 for r in rows], name="cold starts",
                         marker_color="#2980b9"), secondary_y=False)
    fig.add_trace(go.Scatter(x=days, y=[r["count_invocations"] or 0 for r in rows], name="invocations",
                             mode="lines", line=dict(color="#7f8c8d")), secondary_y=True)
    # counts: both axes start at zero (a line's automatic range would pad below a day without invocations)
    fig.update_yaxes(title_text="cold starts", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="invocations", rangemode="tozero", secondary_y=True)
    return _layout(fig, title, dates=True)
