"""Shared pieces of the dashboard: sections, cards, empty states and figure styling."""
from __future__ import annotations

import logging
from collections.abc import Callable

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html
from sqlalchemy.exc import SQLAlchemyError

from app.context import AppContext
from app.queries import MissingTables

log = logging.getLogger("balance_logs.app")

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
COLORS = {"CREDIT": "#1a7f5a", "DEBIT": "#c2452d", "zero": "#6c757d"}
PALETTE = ["#2458a6", "#e08a1e", "#1a7f5a", "#8e44ad", "#c2452d", "#17a2b8", "#6c757d", "#b8860b", "#d63384",
           "#20c997"]
ANY = "any"  # the "all …" choice of a select (an empty value would collide with dbc.Select's placeholder)
SEVERITY_COLORS = {"low": "#8fb3de", "medium": "#e0a21e", "high": "#c2452d"}


def ingest_command(ctx: AppContext) -> str:
    return f"python ingest.py {ctx.settings.log_dir} --database-url '{ctx.database_label}'"


def transform_command(ctx: AppContext) -> str:
    return f"python -m transform --database-url '{ctx.database_label}'"


def missing_state(ctx: AppContext, exc: MissingTables | None = None) -> dbc.Alert:
    """What to do when tables are missing: never a traceback, always the command to run."""
    if exc is not None and exc.derived_only:
        return dbc.Alert([
            html.H5("Derived tables not built yet", className="alert-heading"),
            html.P(["This view reads ", html.Code(", ".join(exc.names)), ", which transform/ builds at the end "
                    "of every ingest. Build them now, then refresh this page:"]),
            html.Pre(transform_command(ctx), className="command"),
            html.P(["(", html.Code("python ingest.py …"), " also rebuilds them after loading new files.)"],
                   className="mb-0 small"),
        ], color="warning", className="empty-state")
    return dbc.Alert([
        html.H5("No data yet", className="alert-heading"),
        html.P("This database has nothing ingested. Load a CloudWatch export of the balance-sync Lambda, "
               "then refresh this page (no restart needed):"),
        html.Pre(ingest_command(ctx), className="command"),
        html.P(["Or run ", html.Code("make run"), ": it writes a sample export into LOG_DIR when that folder is "
                "empty, ingests it and serves this dashboard."], className="mb-0"),
    ], color="info", className="empty-state")


def error_state(message: str) -> dbc.Alert:
    return dbc.Alert([html.Strong("Could not show this: "), message], color="danger", className="empty-state")


def no_rows(text: str = "Nothing matches these filters.") -> html.Div:
    return html.Div(text, className="no-rows text-muted")


def guarded(ctx: AppContext, render: Callable, *args):
    """Run a section renderer; missing tables and database errors become friendly states."""
    try:
        return render(ctx, *args)
    except MissingTables as exc:
        return missing_state(ctx, exc)
    except SQLAlchemyError as exc:
        log.exception("query failed")
        return error_state(f"{type(exc).__name__}: {str(getattr(exc, 'orig', exc)).splitlines()[0][:200]}")
    except Exception as exc:  # noqa: BLE001 - one broken section must not blank the page; the log has the trace
        log.exception("section %s failed", getattr(render, "__name__", render))
        return error_state(f"this section failed ({type(exc).__name__}); the server log has the details")


def section(title: str, body, *, subtitle=None, tools=None, class_name: str = "") -> dbc.Card:
    header = [html.Div([html.H6(title, className="section-title mb-0"),
                        html.Small(subtitle, className="text-muted") if subtitle else None]),
              html.Div(tools, className="section-tools") if tools else None]
    return dbc.Card([dbc.CardHeader(header, className="section-header"), dbc.CardBody(body)],
                    className=f"section mb-3 {class_name}")


def slot(id_, min_height: int = 120) -> dcc.Loading:
    """A container a callback fills, with a spinner while it loads."""
    return dcc.Loading(html.Div(id=id_, style={"minHeight": f"{min_height}px"}), type="dot", delay_show=250,
                       color="#2458a6")


def kpi(title: str, value: str, sub: str | None = None, tone: str = "") -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.Div(title, className="kpi-title"),
        html.Div(value, className=f"kpi-value {tone}"),
        html.Div(sub, className="kpi-sub") if sub else None,
    ]), className="kpi h-100")


def kpi_row(cards: list) -> dbc.Row:
    return dbc.Row([dbc.Col(c, xs=12, sm=6, lg=True, className="mb-2") for c in cards], className="g-2")


def currency_badge(currency: str | None) -> html.Span:
    return html.Span(currency or "—", className="badge currency-badge")


def count(n) -> str:
    return f"{int(n or 0):,}"


def figure(height: int = 320, **layout) -> go.Figure:
    fig = go.Figure()
    settings = dict(
        template="plotly_white", height=height, margin=dict(l=50, r=20, t=44, b=40),
        font=dict(family=FONT, size=12, color="#2b2f33"), hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, title_text=""),
        colorway=PALETTE)
    settings.update(layout)
    fig.update_layout(**settings)
    fig.update_xaxes(showgrid=False, linecolor="#ced4da")
    fig.update_yaxes(gridcolor="#eef0f2", zerolinecolor="#adb5bd")
    return fig


def warm_up() -> None:
    """Build one figure of every trace type used: plotly loads its validators on first use (about a second),
    which would otherwise land on the first request of each server process."""
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=2, cols=1)
    for trace in (go.Bar(x=[1], y=[1]), go.Scatter(x=[1], y=[1])):
        fig.add_trace(trace, row=1, col=1)
    fig.add_hline(y=0)
    fig.update_layout(figure().layout)
    fig.to_plotly_json()


def graph(fig: go.Figure, id_=None) -> dcc.Graph:
    kwargs = {"id": id_} if id_ else {}
    return dcc.Graph(figure=fig, config={"displaylogo": False, "responsive": True, "displayModeBar": False},
                     **kwargs)


def select(id_, options, value, *, label: str, width: str = "auto") -> html.Div:
    """A labelled native <select> (dbc.Select): light, keyboard friendly and easy to test."""
    return html.Div([html.Label(label, className="form-label small text-muted mb-0"),
                     dbc.Select(id=id_, options=options, value=value or ANY, size="sm")],
                    className="param", style={"width": width})


def register_sections(app, ctx: AppContext, sections: dict[str, Callable], *, tab_params: tuple = ()) -> None:
    """One callback per section: url (search, path) -> the section's children, through guarded().

    A tab with URL parameters has controls that Dash fires when the tab is inserted, and their callback always
    rewrites url.search: the sections of such a tab skip their own first call and render on that write, so
    each section queries once per page view.
    """
    from dash import Input, Output, State, callback_context
    from dash.exceptions import PreventUpdate

    for output_id, render in sections.items():
        def make(render=render):
            def section_callback(search, pathname):
                if tab_params and not callback_context.triggered_prop_ids:
                    raise PreventUpdate
                return guarded(ctx, render, search, pathname)
            section_callback.__name__ = f"render_{output_id.replace('-', '_')}"
            return section_callback
        app.callback(Output(output_id, "children"), Input("url", "search"), State("url", "pathname"))(make())


def param_id(tab: str, name: str) -> dict:
    """Id of a control whose value lives in the URL as `name` (see shell.write_url)."""
    return {"type": "param", "tab": tab, "name": name}
