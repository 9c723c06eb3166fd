"""Tab 5, Skipped Events / System Health: skips and errors by kind, cold starts and init durations,
invocation durations, memory, and the ingestion's own record (runs, files, quarantined blocks)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import dash_bootstrap_components as dbc
from dash import html

from app import grid, urlstate
from app.context import AppContext
from app.grid import GridColumn, GridView
from app.ui import (PALETTE, Fig, bar, count, count_axis, figure, graph, kpi, kpi_row, no_rows, register_sections,
                    scatter, section, slot)
from queries import (INGEST_RUNS, INGESTED_FILES, QUARANTINE, data_period, errors_per_day, health_per_day,
                     ingest_totals, skips_per_day)

NAME = "health"
PARAMS = ()

RUNS_GRID = grid.add(GridView(NAME, INGEST_RUNS, (
    GridColumn("run_id", "Run", 80), GridColumn("started_at", "Started (UTC)"),
    GridColumn("finished_at", "Finished (UTC)"), GridColumn("status", "Status", 100),
    GridColumn("exit_code", "Exit code", 90), GridColumn("count_files_seen", "Files seen"),
    GridColumn("count_files_new", "New files"), GridColumn("count_files_skipped", "Skipped files"),
    GridColumn("count_files_damaged", "Damaged files"), GridColumn("count_events", "Events"),
    GridColumn("count_transactions", "Transactions"), GridColumn("count_quarantined", "Quarantined"),
    GridColumn("count_unknown", "Unknown"), GridColumn("paths", "Paths", 300)),
    key="runs", noun="ingest runs", none="nothing was ingested yet", page_size=6, scope=()))

FILES_GRID = grid.add(GridView(NAME, INGESTED_FILES, (
    GridColumn("file_id", "File id", 90), GridColumn("stream_name", "Stream", 330), GridColumn("status", "Status", 95),
    GridColumn("has_problem", "Problem", 95), GridColumn("error", "Error", 240), GridColumn("format", "Format", 90),
    GridColumn("count_events", "Events"), GridColumn("count_transactions", "Transactions"),
    GridColumn("count_quarantined", "Quarantined"), GridColumn("count_unknown", "Unknown"),
    GridColumn("count_replaced_chars", "Bad bytes"), GridColumn("size_bytes", "Bytes", 110),
    GridColumn("run_id", "Run", 70), GridColumn("ingested_at", "Ingested (UTC)"),
    GridColumn("path", "Path", 420)), key="files", noun="ingested files", none="nothing was ingested yet",
    page_size=10, scope=()))

QUARANTINE_GRID = grid.add(GridView(NAME, QUARANTINE, (
    GridColumn("quarantine_id", "Id", 80), GridColumn("kind", "Kind", 140), GridColumn("reason", "Reason", 380),
    GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80), GridColumn("raw", "Raw text", 500)),
    key="quarantine", noun="quarantined blocks", none="every log block was parsed", page_size=10, scope=()))


def layout(ctx: AppContext, params: dict) -> html.Div:
    def chart(title, id_, subtitle=None):
        return dbc.Col(section(title, slot(id_, 260), subtitle=subtitle), lg=6)
    return html.Div([
        slot("health-ingest", 110),
        html.Div("Every chart spans the same business days, so a spike lines up across them.",
                 className="small text-muted mb-2"),
        dbc.Row([chart("Skipped events", "health-skips", "Messages the Lambda skipped, per business day and kind"),
                 chart("Errors", "health-errors", "Errors per business day, by kind and error type")], className="g-3"),
        dbc.Row([chart("Cold starts", "health-cold", "Invocations that started a new Lambda instance, per day"),
                 chart("Init duration", "health-init", "Average and longest initialisation of a new instance, "
                                                       "per day")], className="g-3"),
        dbc.Row([chart("Invocation duration", "health-duration", "p50, p95 and max per business day"),
                 chart("Memory", "health-memory", "Max memory used against the configured memory size")],
                className="g-3"),
        section("Ingestion runs", grid.component(RUNS_GRID, params), subtitle="Newest first"),
        section("Ingested files", grid.component(FILES_GRID, params), subtitle="Files with problems first"),
        section("Quarantined blocks", grid.component(QUARANTINE_GRID, params),
                subtitle="Log blocks that could not be parsed, with the reason, file and line"),
    ])


def render_ingest(ctx: AppContext, search: str, pathname=None):
    t = ingest_totals(ctx.engine)
    return kpi_row([
        kpi("Ingest runs", count(t["count_runs"])),
        kpi("Files ingested", count(t["count_files"]), f"{count(t['count_problem_files'])} with problems",
            tone="negative" if t["count_problem_files"] else ""),
        kpi("Quarantined blocks", count(t["count_quarantined"]), tone="negative" if t["count_quarantined"] else ""),
        kpi("Unknown lines", count(t["count_unknown"])),
    ])


def time_axis(ctx: AppContext, search: str) -> list[str] | None:
    """The business days every chart of the tab spans: the filter's, else the data's (half a day either side,
    so the first and last bars show whole)."""
    f = urlstate.filters(search)
    first, last = data_period(ctx.engine)
    start, end = f.date_from_text or first, f.date_to_text or last
    if not start or not end:
        return None
    return [_shift(start, -12), _shift(end, 12)]


def _shift(day: str, hours: int) -> str:
    return (datetime.fromisoformat(day) + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")


def _figure(ctx: AppContext, search: str, title: str) -> Fig:
    """A chart of the tab: the shared time axis, a count or duration axis that starts at zero."""
    fig = figure(280)
    fig.update_xaxes(type="date", range=time_axis(ctx, search))
    fig.update_yaxes(title_text=title, rangemode="nonnegative")
    return fig


def _stacked(ctx: AppContext, search: str, rows: list[dict], label) -> Fig | None:
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per[label(r)][r["business_date"]] += r["count_events"]
    if not per:
        return None
    fig = _figure(ctx, search, "events")
    fig.update_layout(barmode="stack")
    per_day: dict[str, int] = defaultdict(int)
    for days in per.values():
        for day, n in days.items():
            per_day[day] += n
    count_axis(fig, max(per_day.values()))
    for i, (name, days) in enumerate(sorted(per.items(), key=lambda kv: -sum(kv[1].values()))):
        total = sum(days.values())
        fig.add_trace(bar(x=list(days), y=list(days.values()), name=f"{name} ({total:,})",
                          marker_color=PALETTE[i % len(PALETTE)], hovertemplate=f"{name}: %{{y:,}}<extra></extra>"))
    return fig


def render_skips(ctx: AppContext, search: str, pathname=None):
    rows = skips_per_day(ctx.engine, urlstate.filters(search))
    fig = _stacked(ctx, search, rows, lambda r: r["kind"].removeprefix("skip_").replace("_", " "))
    return graph(fig, "health-skips-graph") if fig else no_rows("No skipped events in this period.")


def render_errors(ctx: AppContext, search: str, pathname=None):
    rows = errors_per_day(ctx.engine, urlstate.filters(search))
    fig = _stacked(ctx, search, rows,
                   lambda r: r["kind"].replace("_", " ") + (f": {r['detail']}" if r["detail"] else ""))
    return graph(fig, "health-errors-graph") if fig else no_rows("No errors in this period.")


def _health(ctx, search):
    return health_per_day(ctx.engine, urlstate.filters(search))


def render_cold(ctx: AppContext, search: str, pathname=None):
    rows = _health(ctx, search)
    if not rows:
        return no_rows("No invocations in this period.")
    fig = _figure(ctx, search, "cold starts")
    count_axis(fig, max(r["count_cold_starts"] for r in rows))
    fig.add_trace(bar(x=[r["business_date"] for r in rows], y=[r["count_cold_starts"] for r in rows],
                      name="cold starts", marker_color="#8fb3de", hovertemplate="%{y:,} cold starts<extra></extra>"))
    return graph(fig, "health-cold-graph")


def render_init(ctx: AppContext, search: str, pathname=None):
    rows = [r for r in _health(ctx, search) if r["count_cold_starts"]]
    if not rows:
        return no_rows("No cold starts in this period.")
    x = [r["business_date"] for r in rows]
    fig = _figure(ctx, search, "ms")
    fig.add_trace(scatter(x=x, y=[r["avg_init_duration_ms"] for r in rows], name="average", mode="lines+markers",
                          marker_size=3, line=dict(color="#2458a6"), hovertemplate="avg %{y:,.0f} ms<extra></extra>"))
    fig.add_trace(scatter(x=x, y=[r["max_init_duration_ms"] for r in rows], name="max", mode="lines",
                          line=dict(color="#c2452d", dash="dot"), hovertemplate="max %{y:,.0f} ms<extra></extra>"))
    return graph(fig, "health-init-graph")


def render_duration(ctx: AppContext, search: str, pathname=None):
    rows = _health(ctx, search)
    if not rows:
        return no_rows("No invocations in this period.")
    x = [r["business_date"] for r in rows]
    fig = _figure(ctx, search, "ms")
    for field, name, style in (("p50_duration_ms", "p50", dict(color="#1a7f5a")),
                               ("p95_duration_ms", "p95", dict(color="#e08a1e")),
                               ("max_duration_ms", "max", dict(color="#c2452d", dash="dot"))):
        fig.add_trace(scatter(x=x, y=[r[field] for r in rows], name=name, mode="lines", line=style,
                              hovertemplate=f"{name} %{{y:,.0f}} ms<extra></extra>"))
    return graph(fig, "health-duration-graph")


def render_memory(ctx: AppContext, search: str, pathname=None):
    rows = _health(ctx, search)
    if not rows:
        return no_rows("No invocations in this period.")
    x = [r["business_date"] for r in rows]
    fig = _figure(ctx, search, "MB")
    fig.add_trace(scatter(x=x, y=[r["memory_size_mb"] for r in rows], name="memory size", mode="lines",
                          line=dict(color="#6c757d", dash="dash"), hovertemplate="size %{y:,} MB<extra></extra>"))
    fig.add_trace(scatter(x=x, y=[r["max_memory_used_mb"] for r in rows], name="max used", mode="lines",
                          fill="tozeroy", line=dict(color="#2458a6"), fillcolor="rgba(36,88,166,.12)",
                          hovertemplate="used %{y:,} MB<extra></extra>"))
    return graph(fig, "health-memory-graph")


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"health-ingest": render_ingest, "health-skips": render_skips,
                                 "health-errors": render_errors, "health-cold": render_cold,
                                 "health-init": render_init, "health-duration": render_duration,
                                 "health-memory": render_memory})
