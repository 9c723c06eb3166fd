"""Shared pieces of the dashboard: sections, cards, empty states and figure styling."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html
from sqlalchemy.exc import SQLAlchemyError

from app.context import AppContext
from queries import MissingTables, freshness

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
    """A container a callback fills. Until the first answer it shows a grey placeholder of its size; while a
    new answer loads, the previous content stays, dimmed (a spinner joins it after 250 ms)."""
    return dcc.Loading(html.Div(html.Div(className="skeleton", style={"height": f"{min_height}px"}), id=id_,
                                style={"minHeight": f"{min_height}px"}),
                       type="dot", delay_show=250, show_initially=False, color="#2458a6",
                       overlay_style={"visibility": "visible", "opacity": 0.55, "transition": "opacity .15s"})


DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"


def date_input(id_, title: str, value: str | None = None) -> html.Span:
    """A business-day field that shows and takes YYYY-MM-DD whatever the browser's language (a native date field
    follows the browser's locale). Typing a date then Tab (leaving the field) or Enter applies it; something that
    is not a date is flagged next to the field by the callback that reads it (urlstate.date_problem)."""
    field = dbc.Input(id=id_, type="text", value=value or "", placeholder="YYYY-MM-DD", pattern=DATE_PATTERN,
                      maxlength=24, inputmode="numeric", autocomplete="off", size="sm", debounce=True,
                      className="date-input")
    return html.Span(field, title=title, className="date-field")


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def table(header: list[str], rows: list[list], *, numeric: tuple[int, ...] = (), class_name: str = "",
          caption: str | None = None) -> dcc.Markdown:
    """A read-only table as one component (Markdown), not one per cell: the browser's Dash renderer pays for every
    component on the page at each update, and a table of a few hundred cells made whole tabs slow. `numeric`:
    the indexes of the right-aligned columns. Cell text is escaped, never read as Markdown or HTML."""
    def cell(value) -> str:
        return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str("" if value is None else value).split())) or " "
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---:" if i in numeric else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    if caption:
        lines += ["", cell(caption)]
    return dcc.Markdown("\n".join(lines), className=f"md-table {class_name}".strip())


def kpi(title: str, value: str, sub=None, tone: str = "") -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.Div(title, className="kpi-title"),
        html.Div(value, className=f"kpi-value {tone}"),
        html.Div(sub, className="kpi-sub") if sub else None,
    ]), className="kpi h-100")


def kpi_row(cards: list) -> dbc.Row:
    return dbc.Row([dbc.Col(c, xs=12, sm=6, lg=True, className="mb-2") for c in cards], className="g-2")


def count(n) -> str:
    return f"{int(n or 0):,}"


# --- figures: plain dicts ----------------------------------------------------------------------------
# plotly's graph objects validate every property in Python, slowly; the browser validates anyway, so figures
# are built as dicts with the small helper below.

MAGIC = ("marker", "line", "title", "tickfont", "font", "legend")


def _nest(props: dict) -> dict:
    """plotly's magic underscores, one level deep: marker_color=… -> marker={"color": …}."""
    out: dict = {}
    for key, value in props.items():
        head, _, tail = key.partition("_")
        if tail and head in MAGIC:
            out.setdefault(head, {})[tail] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def _merge(into: dict, more: dict) -> dict:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def bar(**props) -> dict:
    return {"type": "bar", **_nest(props)}


def scatter(**props) -> dict:
    return {"type": "scatter", **_nest(props)}


class Fig:
    """The few figure operations the tabs use, on a plain {"data", "layout"} dict."""

    def __init__(self, height: int = 320, **layout):
        self.data: list[dict] = []
        self.layout = {
            "height": height, "margin": {"l": 50, "r": 20, "t": 44, "b": 40},
            "font": {"family": FONT, "size": 12, "color": "#2b2f33"}, "hovermode": "x unified",
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
            "colorway": PALETTE, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
            "hoverlabel": {"font": {"family": FONT}},
            "xaxis": {"showgrid": False, "linecolor": "#ced4da", "automargin": True, "zeroline": False},
            "yaxis": {"gridcolor": "#eef0f2", "zerolinecolor": "#adb5bd", "automargin": True},
        }
        self.update_layout(**layout)

    def add_trace(self, trace: dict) -> None:
        self.data.append(trace)

    def update_layout(self, **layout) -> None:
        _merge(self.layout, _nest(layout))

    def _axes(self, prefix: str, row: int | None):
        if row is not None:
            return [prefix if row == 1 else f"{prefix}{row}"]
        return [k for k in self.layout if k.startswith(prefix)] or [prefix]

    def update_xaxes(self, **props) -> None:
        for name in self._axes("xaxis", None):
            _merge(self.layout.setdefault(name, {}), _nest(props))

    def update_yaxes(self, row: int | None = None, **props) -> None:
        for name in self._axes("yaxis", row):
            _merge(self.layout.setdefault(name, {}), _nest(props))

    def add_hline(self, y: float, line: dict, label: str | None = None) -> None:
        self.layout.setdefault("shapes", []).append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                                                     "y0": y, "y1": y, "line": line, "layer": "below"})
        if label:
            self.layout.setdefault("annotations", []).append(
                {"text": label, "xref": "paper", "x": 0, "xanchor": "right", "yref": "y", "y": y,
                 "showarrow": False, "font": {"color": line.get("color", "#6c757d")}})

    def add_span(self, x0, x1, color: str, opacity: float = 0.08) -> None:
        """A shaded band across the plot from x0 to x1 (e.g. the time an issue stayed open)."""
        self.layout.setdefault("shapes", []).append({"type": "rect", "xref": "x", "x0": x0, "x1": x1, "yref": "paper",
                                                     "y0": 0, "y1": 1, "fillcolor": color, "opacity": opacity,
                                                     "line": {"width": 0}, "layer": "below"})

    def rows(self, titles: list[str], gap: float = 0.08) -> None:
        """Stack one y axis per title, sharing the x axis (small multiples)."""
        n = len(titles)
        gap = min(gap, 0.3 / n) if n > 1 else 0
        height = (1 - gap * (n - 1)) / n
        for i, title in enumerate(titles, start=1):
            top = 1 - (i - 1) * (height + gap)
            axis = self.layout.setdefault("yaxis" if i == 1 else f"yaxis{i}", {})
            _merge(axis, {"domain": [max(0, top - height), top], "anchor": "x", "gridcolor": "#eef0f2",
                          "automargin": True})
            if n > 1:
                self.layout.setdefault("annotations", []).append(
                    {"text": f"<b>{title}</b>", "xref": "paper", "x": 0.5, "yref": "paper", "y": top,
                     "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
        self.layout["xaxis"]["anchor"] = "y" if n == 1 else f"y{n}"

    def to_dict(self) -> dict:
        return {"data": self.data, "layout": self.layout}


def count_axis(fig: Fig, largest: int, axis: str = "yaxis") -> None:
    """An axis of counts: whole-number ticks from zero (plotly would tick 0.2, 0.4, … up to a small count)."""
    _merge(fig.layout.setdefault(axis, {}), {"rangemode": "nonnegative", "tickformat": ",d",
                                             **({"dtick": 1} if largest <= 5 else {})})


def figure(height: int = 320, **layout) -> Fig:
    return Fig(height, **layout)


def graph(fig: Fig, id_=None) -> dcc.Graph:
    kwargs = {"id": id_} if id_ else {}
    return dcc.Graph(figure=fig.to_dict(), config={"displaylogo": False, "responsive": True, "displayModeBar": False},
                     **kwargs)


def select(id_, options, value, *, label: str, width: str = "auto") -> html.Div:
    """A labelled native <select> (dbc.Select): light, keyboard friendly and easy to test."""
    return html.Div([html.Label(label, className="form-label small text-muted mb-0"),
                     dbc.Select(id=id_, options=options, value=value or ANY, size="sm")],
                    className="param", style={"width": width})


SECTIONS: dict[str, Callable] = {}  # output id -> renderer, for the cache warmer


def warm_sections(ctx: AppContext) -> None:
    """Render every section's default view once (fills the aggregate cache; the output is dropped)."""
    if not freshness(ctx.engine).has_data:
        return
    for output_id, render in list(SECTIONS.items()):
        if not output_id.startswith("ledger-"):
            guarded(ctx, render, "", "/" + output_id.split("-")[0])


def register_sections(app, ctx: AppContext, sections: dict[str, Callable]) -> None:
    """One callback for a tab's sections: url (search, path) -> every section's children, each through guarded().

    One request and one update of the page per view, not one per section: the browser's Dash renderer pays for
    each answer with a pass over every component of the page, which cost more than drawing the sections apart
    saved (their aggregates are cached, see queries/cache.py). The sections render on the callback's first call,
    when the tab is inserted: the tab's controls fire too (Dash calls a callback whose input is inserted and whose
    output is not), but their callback writes url.search only when the query string changes
    (shell.register_params), so the sections query once per page view.
    """
    SECTIONS.update(sections)
    renders = list(sections.items())

    def render_sections(search, pathname):
        return tuple(guarded(ctx, render, search, pathname) for _, render in renders)
    render_sections.__name__ = f"render_{renders[0][0].split('-')[0]}_sections"
    app.callback(*[Output(output_id, "children") for output_id, _ in renders], Input("url", "search"),
                 State("url", "pathname"))(render_sections)


def param_id(tab: str, name: str) -> dict:
    """Id of a control whose value lives in the URL as `name` (see shell.write_url)."""
    return {"type": "param", "tab": tab, "name": name}
