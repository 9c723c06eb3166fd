"""The shell around the tabs: header with data freshness, global filters, navigation, and the URL.

The URL is the single source of truth:
- `route` renders the page for the path and sets the filter controls from the
  query string (on load, tab change, back/forward, a pasted link);
- `write_url` (global filters) and one `write_<tab>_params` per tab turn a
  control change into a new query string, and remember it so `route` knows
  not to re-render for its own change;
- every tab's sections read the filters from `url.search` (ui.register_sections).
"""
from __future__ import annotations

from datetime import date, timedelta

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app import urlstate
from app.context import AppContext
from app.tabs import TABS, ledger, tab_for_path
from app.ui import ANY, count, date_input, missing_state, param_id
from queries import Freshness, currencies, freshness, latest_business_date

PARAM_DEFAULTS = {"by": "auto"}  # tab parameters at their default stay out of the URL
DATE_PARAMS = ("as_of",)  # tab parameters typed as dates
PRESETS = (("7d", "7 d"), ("30d", "30 d"), ("90d", "90 d"), ("month", "Month"), ("all", "All"))


def layout(ctx: AppContext) -> html.Div:
    return html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="url-written"),
        dcc.Store(id="grid-refresh"),
        dcc.Store(id="grid-url"),
        header(),
        dbc.Container([filters_bar(), nav(), html.Main(id="page", className="page")], fluid=True,
                      className="main"),
    ])


def header() -> html.Header:
    return html.Header(dbc.Container([
        html.A([html.Span("⚖", className="brand-mark"), html.Span("Balance logs", className="brand-name")],
               href="/", className="brand"),
        html.Div(id="freshness", className="freshness"),
    ], fluid=True, className="d-flex align-items-center justify-content-between flex-wrap gap-2"),
        className="app-header")


def filters_bar() -> html.Div:
    return html.Div([
        html.Div([
            html.Label("Business days", className="form-label small text-muted mb-0", htmlFor="flt-from"),
            html.Div([
                date_input("flt-from", "first business day (YYYY-MM-DD)"),
                html.Span("→", className="mx-1 text-muted"),
                date_input("flt-to", "last business day (YYYY-MM-DD)"),
                dbc.ButtonGroup([dbc.Button(label, id={"type": "preset", "range": key}, size="sm",
                                            color="light", className="preset") for key, label in PRESETS],
                                className="ms-2"),
            ], className="d-flex align-items-center"),
            html.Div(id="flt-dates-problem", className="date-problem", role="alert"),
        ], className="filter"),
        html.Div([
            html.Label("Currency", className="form-label small text-muted mb-0"),
            dbc.Select(id="flt-currency", options=[{"label": "All currencies", "value": ANY}], value=ANY, size="sm"),
        ], className="filter", style={"minWidth": "170px"}),
        html.Div([
            html.Label("User", className="form-label small text-muted mb-0"),
            dbc.Input(id="flt-user", type="search", size="sm", placeholder="user id contains…", debounce=True,
                      maxLength=urlstate.MAX_VALUE),
        ], className="filter", style={"minWidth": "260px"}),
    ], className="filters-bar")


def nav() -> dbc.Nav:
    return dbc.Nav([dbc.NavItem(dbc.NavLink(t.label, id=f"nav-{t.name}", href=t.path)) for t in TABS],
                   pills=True, className="tab-nav")


# --- pure pieces (tested without a browser) --------------------------------------------------------

def freshness_line(fresh: Freshness) -> list:
    if not fresh.has_data:
        return [dbc.Badge("no data", color="secondary", className="me-2"),
                html.Span("nothing ingested yet", className="text-light-50")]
    run = fresh.last_run or {}
    when = (run.get("finished_at") or run.get("started_at") or "")[:16].replace("T", " ")
    status = run.get("status") or "?"
    parts = [
        html.Span(["Last ingest ", html.Strong(f"{when} UTC" if when else "—"), " ",
                   dbc.Badge(status, color="success" if status == "ok" else "warning", className="ms-1")],
                  className="fresh-item", id="fresh-last-ingest"),
        html.Span([html.Strong(count(fresh.count_files)), " files",
                   f" ({count(fresh.count_damaged_files)} damaged)" if fresh.count_damaged_files else ""],
                  className="fresh-item"),
        html.Span(["Data ", html.Strong(f"{fresh.first_date} → {fresh.last_date}")], className="fresh-item",
                  id="fresh-period"),
    ]
    if fresh.missing_derived:
        parts.append(dbc.Badge("derived tables not built", color="warning", className="fresh-item",
                               title="missing: " + ", ".join(fresh.missing_derived)))
    return parts


def preset_range(key: str, latest: str | None) -> tuple[str | None, str | None]:
    """(from, to) of a preset, counted back from the newest business date in the data."""
    if key == "all" or not latest:
        return None, None
    end = date.fromisoformat(latest)
    if key == "month":
        return end.replace(day=1).isoformat(), end.isoformat()
    days = {"7d": 7, "30d": 30, "90d": 90}.get(key)
    if days is None:
        return None, None
    return (end - timedelta(days=days - 1)).isoformat(), end.isoformat()


def search_from_controls(search, date_from, date_to, currency, user) -> str:
    """The query string after a global filter changed; tab parameters are kept as they are. A date field holding
    something that is not a date (see date_problems) leaves its bound as the URL has it."""
    current = urlstate.parse(search)
    dates = {name: current.get(name) if urlstate.date_problem(typed) else typed
             for name, typed in (("from", date_from), ("to", date_to))}
    f = urlstate.filters({**dates, "cur": None if currency == ANY else currency, "user": (user or "").strip()})
    params = {k: v for k, v in current.items() if k not in urlstate.GLOBAL_PARAMS}
    params.update({"from": f.date_from_text, "to": f.date_to_text, "cur": f.currency, "user": f.user})
    return urlstate.encode(params)


def date_problems(date_from, date_to) -> tuple[bool, bool, str]:
    """(from is invalid, to is invalid, the line said next to the fields)."""
    problems = [(label, urlstate.date_problem(value)) for label, value in (("From", date_from), ("To", date_to))]
    text = " · ".join(f"{label}: {problem}" for label, problem in problems if problem)
    return (bool(problems[0][1]), bool(problems[1][1]),
            text + ("; the view keeps the bound it had" if text else ""))


def search_with_params(search, values: dict) -> str:
    """The query string after tab controls changed: a value at its default (or "any") leaves the URL."""
    params = urlstate.parse(search)
    for name, value in values.items():
        if name in DATE_PARAMS and urlstate.date_problem(value):
            continue  # not a date: the URL keeps the day it had (the field says why)
        default = PARAM_DEFAULTS.get(name)
        params[name] = None if value in (None, "", ANY, default) else str(value).strip()[:urlstate.MAX_VALUE]
    return urlstate.encode(params)


def register_params(app, tab: str, names: tuple[str, ...]) -> None:
    """Write a tab's controls into the URL. Dash calls this when the tab is inserted (its inputs are inserted, its
    output is not), with the controls showing the URL: then nothing changes and nothing is written, so the
    sections and grids, which read url.search, are not asked again."""
    if not names:
        return

    @app.callback(Output("url", "search", allow_duplicate=True), Output("url-written", "data", allow_duplicate=True),
                  *[Input(param_id(tab, n), "value") for n in names], State("url", "search"),
                  prevent_initial_call=True)
    def write_params(*args):
        new = search_with_params(args[-1], dict(zip(names, args[:-1])))
        if new == (args[-1] or ""):
            raise PreventUpdate
        return new, new

    write_params.__name__ = f"write_{tab}_params"


def render_route(ctx: AppContext, pathname: str | None, search: str | None) -> tuple:
    """(page, freshness line, currency options, from, to, currency, user) for a URL."""
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    fresh = freshness(ctx.engine)
    options = [{"label": "All currencies", "value": ANY}]
    if not fresh.has_data:
        page = html.Div(missing_state(ctx), className="pt-3")
    else:
        options += [{"label": c, "value": c} for c in currencies(ctx.engine)]
        user = urlstate.ledger_user(pathname)
        tab = tab_for_path(pathname)
        if user:
            page = ledger.layout(ctx, user, params)
        elif tab:
            page = tab.module.layout(ctx, params)
        else:
            page = dbc.Alert(["There is no page at ", html.Code(pathname or ""), ". ",
                              dcc.Link("Go to Transaction Trends", href="/trends" + urlstate.global_search(search))],
                             color="secondary", className="mt-3")
    if f.currency and f.currency not in [o["value"] for o in options]:
        options.append({"label": f.currency, "value": f.currency})
    return (page, freshness_line(fresh), options, f.date_from_text or "", f.date_to_text or "", f.currency or ANY,
            f.user or "")


def nav_state(pathname: str | None, search: str | None) -> tuple[list[str], list[bool]]:
    carry = urlstate.global_search(search)
    current = tab_for_path(pathname)
    return ([t.path + carry for t in TABS], [current is not None and t.name == current.name for t in TABS])


NAV_OUTPUTS = [Output(f"nav-{t.name}", "href") for t in TABS] + [Output(f"nav-{t.name}", "active") for t in TABS]


def register(app, ctx: AppContext) -> None:
    # One request per navigation: the page, the header, the filter controls and the tab links.
    @app.callback(Output("page", "children"), Output("freshness", "children"), Output("flt-currency", "options"),
                  Output("flt-from", "value"), Output("flt-to", "value"), Output("flt-currency", "value"),
                  Output("flt-user", "value"), *NAV_OUTPUTS,
                  Input("url", "pathname"), Input("url", "search"), State("url-written", "data"),
                  State("flt-from", "value"), State("flt-to", "value"), State("flt-currency", "value"),
                  State("flt-user", "value"))
    def route(pathname, search, written, *shown):
        hrefs, active = nav_state(pathname, search)
        triggered = {t["prop_id"] for t in callback_context.triggered}
        if triggered == {"url.search"} and (search or "") == (written or ""):
            # our own write: the controls already show it and the sections update; the tab links carry it
            return (no_update,) * 7 + tuple(hrefs + active)
        out = render_route(ctx, pathname, search)
        # Set only the controls that differ, so write_url does not fire for nothing.
        return (out[:3] + tuple(no_update if new == (old or "") else new for new, old in zip(out[3:], shown))
                + tuple(hrefs + active))

    # The date fields' problems always answer; url.search only when the query string changes (route sets the
    # controls from the URL, and writing it back unchanged would ask every section and grid again).
    @app.callback(Output("url", "search"), Output("url-written", "data"), Output("flt-from", "invalid"),
                  Output("flt-to", "invalid"), Output("flt-dates-problem", "children"),
                  Input("flt-from", "value"), Input("flt-to", "value"), Input("flt-currency", "value"),
                  Input("flt-user", "value"), State("url", "search"), prevent_initial_call=True)
    def write_url(date_from, date_to, currency, user, search):
        new = search_from_controls(search, date_from, date_to, currency, user)
        if new == (search or ""):
            return (no_update, no_update, *date_problems(date_from, date_to))
        return (new, new, *date_problems(date_from, date_to))

    for tab in TABS:
        register_params(app, tab.name, tab.module.PARAMS)

    @app.callback(Output("flt-from", "value", allow_duplicate=True), Output("flt-to", "value", allow_duplicate=True),
                  Input({"type": "preset", "range": ALL}, "n_clicks"), prevent_initial_call=True)
    def apply_preset(_clicks):
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict) or not any(_clicks or ()):
            raise PreventUpdate
        start, end = preset_range(trigger.get("range"), latest_business_date(ctx.engine))
        return start or "", end or ""
