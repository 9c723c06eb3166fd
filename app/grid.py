"""Grids that page, sort and filter in SQL (AG Grid's infinite row model, one page per request).

Each grid is a `GridView` over a `TableQuery`: its id is
`{"type": "grid", "tab": <tab>, "name": <table>}`, one MATCH callback answers
every grid's page requests from the URL's filters (with the exact number of
matching rows, and a sentence saying why when there are none), a client-side
callback sends grids back to page 1 when the URL changes, and ids that lead
somewhere are links (a user to their ledger, a transaction to its ledger row,
a discrepancy to its issue).

A grid's sort and column filters live in the URL too, under the grid's `key`:
`issues.sort=-amount_at_stake,user_id` (a minus sorts descending) and one
parameter per filtered column, `issues.user_id=contains:df06`,
`issues.amount_at_stake=inRange:100:200`, `issues.error=blank`. The page
request's answer carries them, and a client-side callback writes them into the
address bar (replacing the history entry: a sort is not a new page); a page
opened from such a URL starts with that sort and those filters.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import dash_ag_grid as dag
from dash import ALL, MATCH, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from app import urlstate
from app.context import AppContext
from app.ui import count, log
from queries import Filters, MissingTables, TableQuery, page
from queries.paging import count_rows

PAGE_SIZE = 20
# integer columns that are numbers to look up, not quantities: shown without thousands separators
IDENTIFIERS = frozenset({"line_no", "file_id", "run_id", "event_id", "quarantine_id", "discrepancy_id",
                         "anomaly_id", "user_seq", "exit_code"})
TEXT_OPS = ("contains", "equals", "startsWith", "notContains", "blank", "notBlank")
NUMBER_OPS = ("greaterThan", "lessThan", "equals", "inRange", "blank")
NO_VALUE_OPS = ("blank", "notBlank")
TEXT_FILTER = {"filter": "agTextColumnFilter",
               "filterParams": {"filterOptions": list(TEXT_OPS), "maxNumConditions": 1,
                                "buttons": ["reset", "apply"], "closeOnApply": True}}
NUMBER_FILTER = {"filter": "agNumberColumnFilter",
                 "filterParams": {"filterOptions": list(NUMBER_OPS), "maxNumConditions": 1,
                                  "buttons": ["reset", "apply"], "closeOnApply": True}}
NUMERIC_KINDS = ("money", "int", "num")
# Widths that show a whole cell (system-ui 12.5 px, 10 px of padding either side; headers wrap): a timestamp with
# milliseconds, a business day, an amount up to -99,999,999.999. Ids: a UUID needs 292, a ULID 252.
KIND_WIDTHS = {"ts": 186, "date": 104, "money": 124, "int": 96, "num": 90, "bool": 84}
USER_WIDTH, ULID_WIDTH, CURRENCY_WIDTH = 294, 256, 72
SCOPES = ("dates", "currency", "user")  # the global filters a table can use
LINKS = ("ledger", "transaction", "issue")  # where an id column leads (see links_of)


@dataclasses.dataclass(frozen=True)
class GridColumn:
    field: str
    header: str
    width: int | None = None  # None: KIND_WIDTHS by the column's kind (text columns: 150)
    pinned: str | None = None
    hide: bool = False
    link: str | None = None  # one of LINKS: the cell is a link there (assert in GridView)
    wrap: bool = False  # the text wraps onto as many lines as the grid's row height holds


@dataclasses.dataclass(frozen=True)
class GridView:
    tab: str
    table: TableQuery
    columns: tuple[GridColumn, ...]
    key: str  # prefix of the grid's sort and filters in the URL (`issues.sort=…`)
    noun: str  # what a row is, in the plural ("issues"), for counts and empty results
    none: str  # why there are no rows at all, when nothing filters them ("no log block failed to parse")
    params: Callable[[dict, str | None], dict] = lambda params, pathname: {}  # URL -> query keyword args
    enrich: Callable[[AppContext, list[dict]], list[dict]] | None = None
    page_size: int = PAGE_SIZE
    scope: tuple[str, ...] = SCOPES  # the global filters the table's query uses
    row_height: int = 32

    def __post_init__(self):
        assert all(c.link in (None, *LINKS) for c in self.columns), self.columns
        assert set(self.scope) <= set(SCOPES), self.scope

    @property
    def id(self) -> dict:
        return {"type": "grid", "tab": self.tab, "name": self.table.name}

    def part_id(self, part: str) -> dict:
        """Id of a component beside the grid (its URL state, its empty-result message)."""
        return {"type": f"grid-{part}", "tab": self.tab, "name": self.table.name}

    @property
    def prefix(self) -> str:
        return self.key + "."


GRIDS: dict[str, GridView] = {}


def word_width(word: str) -> float:
    """About how many pixels a header word takes (system-ui 12.5 px, medium weight)."""
    return sum(11.5 if c in "mwMW" else 4 if c in "iljtfr.,:'()" else 9 if c.isupper() else 8 if c.isdigit()
               else 7.5 for c in word)


def header_width(text: str, *, filterable: bool, sorted_: bool) -> int:
    """The narrowest column whose header shows its longest word whole (headers wrap between words): padding and
    gaps, the word, the filter icon, and the sort arrow of a column the rows come sorted by."""
    longest = max((word_width(word) for word in text.split()), default=0)
    return round(38 + longest + (16 if filterable else 0) + (20 if sorted_ else 0))


def add(view: GridView) -> GridView:
    GRIDS[view.table.name] = view
    return view


def component(view: GridView, url_params: dict | None = None, *, get_row_id: str | None = None,
              **grid_options) -> html.Div:
    """The grid, starting with the sort and column filters of the URL, its URL state and its empty message."""
    sort_model, filter_model = from_url(view, url_params or {})
    sort_model = sort_model or [{"colId": f, "sort": d} for f, d in view.table.default_sort]
    sorted_at = {s["colId"]: (i, s["sort"]) for i, s in enumerate(sort_model)}
    kinds = view.table.by_field
    defs = []
    for col in view.columns:
        kind = kinds[col.field].kind if col.field in kinds else None
        d = {"field": col.field, "headerName": col.header, "hide": col.hide, "sortable": kind is not None,
             "width": max(col.width or KIND_WIDTHS.get(kind, 150),
                          header_width(col.header, filterable=kind not in (None, "bool"),
                                       sorted_=col.field in sorted_at))}
        classes = []
        if kind is None:  # computed after the page query (e.g. linked discrepancies): not sortable in SQL
            d.update(filter=False)
        elif kind in NUMERIC_KINDS:
            d.update(NUMBER_FILTER, type="rightAligned")
            classes += ["numeric", "ag-right-aligned-cell"]  # a cellClass replaces the type's own: keep it
        elif kind == "bool":
            d.update(filter=False)
            classes.append("flag")
        else:
            d.update(TEXT_FILTER)
        if kind in ("ts", "date"):
            classes.append("tabular")  # tabular figures: times line up
        if col.link:
            d["cellRenderer"] = "CellLinks"
            classes.append("link-cell")
        if col.wrap:
            d["wrapText"] = True
            classes.append("wrapped")
        if col.field in ("file", "explanation", "raw", "error", "paths", "parameters", "reason", "action",
                         "stream_name", "path", "discrepancies"):
            d["tooltipField"] = "file_path" if col.field == "file" else col.field
        if classes:
            d["cellClass"] = classes
        if col.pinned:
            d["pinned"] = col.pinned
        if col.field in sorted_at:  # the header shows the order the rows come in
            d["sortIndex"], d["sort"] = sorted_at[col.field]
        defs.append(d)
    options = {"pagination": True, "paginationPageSize": view.page_size, "cacheBlockSize": view.page_size,
               "maxBlocksInCache": 5, "infiniteInitialRowCount": 1, "paginationPageSizeSelector": False,
               "rowHeight": view.row_height, "headerHeight": 36, "tooltipShowDelay": 400,
               "enableCellTextSelection": True, "ensureDomOrder": True, "suppressMultiSort": False,
               "domLayout": "autoHeight", "suppressNoRowsOverlay": True, **grid_options}
    if filter_model:
        options["initialState"] = {"filter": {"filterModel": filter_model}}
    extra = {"getRowId": get_row_id} if get_row_id else {}
    return html.Div([
        dag.AgGrid(
            **extra,
            id=view.id,
            columnDefs=defs,
            rowModelType="infinite",
            # headers wrap rather than being cut off; a column is never narrower than its header's words
            defaultColDef={"resizable": True, "minWidth": 60, "suppressHeaderMenuButton": False,
                           "wrapHeaderText": True, "autoHeaderHeight": True},
            dashGridOptions=options,
            rowClassRules={"row-flagged": "params.data && (params.data.is_calc_mismatch === 'yes' || "
                                          "params.data.is_continuity_break === 'yes')"},
            style={"width": "100%"},  # autoHeight: one whole page shows, no scrollbar inside the grid
            className="data-grid",
        ),
        html.Div(id=view.part_id("empty"), className="grid-empty", role="status"),
        dcc.Store(id=view.part_id("state")),
    ], className="grid-wrap")


# --- the URL state of a grid -------------------------------------------------------------------------

def _number_text(value) -> str | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return format(number.normalize(), "f") if number.is_finite() else None


def _url_number(text: str):
    """A number of the URL as AG Grid's number filter holds it (the server converts it exactly again)."""
    number = _number_text(text)
    if number is None:
        return None
    value = Decimal(number)
    return int(value) if value == value.to_integral_value() else float(value)


def url_state(view: GridView, sort_model, filter_model) -> dict[str, str]:
    """The URL parameters of a grid's sort and column filters (only those the grid can apply)."""
    kinds = view.table.by_field
    out: dict[str, str] = {}
    sort = [("-" if s.get("sort") == "desc" else "") + s["colId"] for s in sort_model or ()
            if isinstance(s, dict) and s.get("colId") in kinds and s.get("sort") in ("asc", "desc")]
    default = ["-" + f if d == "desc" else f for f, d in view.table.default_sort]
    if sort and sort != default[:len(sort)]:
        out[view.prefix + "sort"] = ",".join(sort)
    for field, model in (filter_model or {}).items() if isinstance(filter_model, dict) else ():
        col = kinds.get(field)
        if col is None or not isinstance(model, dict):
            continue
        op = model.get("type")
        ops = NUMBER_OPS if col.kind in NUMERIC_KINDS else TEXT_OPS
        if op not in ops:
            continue
        if op in NO_VALUE_OPS:
            out[view.prefix + field] = op
        elif col.kind in NUMERIC_KINDS:
            values = [_number_text(model.get("filter"))] + ([_number_text(model.get("filterTo"))]
                                                           if op == "inRange" else [])
            if all(v is not None for v in values):
                out[view.prefix + field] = ":".join([op, *values])
        elif isinstance(model.get("filter"), str) and model["filter"]:
            out[view.prefix + field] = f"{op}:{model['filter'][:urlstate.MAX_VALUE]}"
    return out


def from_url(view: GridView, params: dict) -> tuple[list[dict], dict]:
    """(AG Grid sort model, filter model) from the URL parameters of this grid; anything else is dropped."""
    kinds = view.table.by_field
    sortable = {c.field for c in view.columns if c.field in kinds}
    sort_model = []
    for item in (params.get(view.prefix + "sort") or "").split(","):
        field = item.strip().lstrip("-")
        if field in sortable and field not in {s["colId"] for s in sort_model}:
            sort_model.append({"colId": field, "sort": "desc" if item.strip().startswith("-") else "asc"})
    filter_model = {}
    shown = {c.field for c in view.columns}
    for name, value in params.items():
        field = name[len(view.prefix):] if name.startswith(view.prefix) else None
        col = kinds.get(field) if field in shown else None
        if col is None or col.kind == "bool" or not isinstance(value, str):
            continue
        numeric = col.kind in NUMERIC_KINDS
        op, _, rest = value.partition(":")
        if op not in (NUMBER_OPS if numeric else TEXT_OPS):
            continue
        model = {"filterType": "number" if numeric else "text", "type": op}
        if op not in NO_VALUE_OPS:
            if numeric:
                low, _, high = rest.partition(":") if op == "inRange" else (rest, "", "")
                model["filter"] = _url_number(low)
                if op == "inRange":
                    model["filterTo"] = _url_number(high)
                if model["filter"] is None or model.get("filterTo", 0) is None:
                    continue
            elif rest:
                model["filter"] = rest
            else:
                continue
        filter_model[field] = model
    return sort_model, filter_model


def without_grid_params(params: dict, view: GridView) -> dict:
    return {k: v for k, v in params.items() if not k.startswith(view.prefix)}


# --- serving pages ---------------------------------------------------------------------------------

def short_file(path: str | None) -> str:
    """The stream folder and object name of a file path (the full path is in the tooltip)."""
    if not path:
        return ""
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def format_row(ctx: AppContext, tq: TableQuery, row: dict) -> dict:
    out = {}
    currency = row.get("currency")
    for col in tq.columns:
        value = row.get(col.field)
        if col.kind == "money":
            value = ctx.money(value, currency)
        elif col.kind == "int":
            value = count(value) if value is not None and col.field not in IDENTIFIERS else value
        elif col.kind == "num":
            value = None if value is None else f"{float(value):,.2f}"
        elif col.kind == "ts":
            value = (value or "").replace("T", " ").rstrip("Z")
        elif col.kind == "bool":
            value = "yes" if value else ("no" if value is not None else "")
        out[col.field] = value
    if "file" in out:
        out["file_path"] = row.get("file") or ""
        out["file"] = short_file(row.get("file"))
    for extra in ("discrepancies",):
        if extra in row:
            out[extra] = row[extra]
    return out


def links_of(view: GridView, row: dict, origin: str) -> dict[str, list[list[str]]]:
    """For each link column of the row: [[text, href], …] (the CellLinks renderer draws them).

    A user opens their ledger with the page's global filters; a transaction opens its user's ledger filtered to
    it; a discrepancy opens the Reconciliation tab filtered to it. A ledger remembers where it was opened from
    (`back`, the page's path and query string) for its back link.
    """
    out: dict[str, list[list[str]]] = {}
    for col in view.columns:
        value = row.get(col.field)
        if not col.link or value in (None, ""):
            continue
        if col.link == "ledger":
            out[col.field] = [[str(value), urlstate.ledger_href(str(value), origin)]]
        elif col.link == "transaction" and row.get("user_id"):
            out[col.field] = [[str(value), urlstate.ledger_href(str(row["user_id"]), origin, transaction=str(value),
                                                                 keep_filters=False)]]
        elif col.link == "issue":
            out[col.field] = [[text, urlstate.issue_href(issue) if issue else ""]
                              for text, issue in urlstate.issue_mentions(str(value))]
    return out


def _request(request) -> dict:
    return request if isinstance(request, dict) else {}


def rows_response(ctx: AppContext, view: GridView, request: dict | None, search: str | None,
                  pathname: str | None) -> dict:
    """The getRowsResponse for one page request: formatted rows (with their links) and the exact row count."""
    request = _request(request)
    params = urlstate.parse(search)
    try:
        rows, total = page(ctx.engine, view.table, urlstate.filters(params),
                           start=request.get("startRow", 0), end=request.get("endRow", view.page_size),
                           sort_model=request.get("sortModel"), filter_model=request.get("filterModel"),
                           **view.params(params, pathname))
    except MissingTables:
        return {"rowData": [], "rowCount": 0}
    if view.enrich:
        rows = view.enrich(ctx, rows)
    origin = (pathname or "/") + page_search(view, search, request)
    out = []
    for r in rows:
        shown = format_row(ctx, view.table, r)
        links = links_of(view, r, origin)
        if links:
            shown["links"] = links
        out.append(shown)
    return {"rowData": out, "rowCount": total}


def page_search(view: GridView, search: str | None, request: dict | None) -> str:
    """The page's query string with this grid's sort and filters as the request has them."""
    request = _request(request)
    params = without_grid_params(urlstate.parse(search), view)
    params.update(url_state(view, request.get("sortModel"), request.get("filterModel")))
    return urlstate.encode(params)


def describe_filters(view: GridView, params: dict, pathname: str | None, filter_model) -> list[str]:
    """The filters that narrow this grid, in words: global filters its table uses, tab choices, column filters."""
    f = urlstate.filters(params)
    out = []
    if "dates" in view.scope and (f.date_from or f.date_to):
        out.append(f"business days {f.date_from_text or 'from the start'} → {f.date_to_text or 'the end'}")
    if "currency" in view.scope and f.currency:
        out.append(f"currency {f.currency}")
    if "user" in view.scope and f.user:
        out.append(f"user id contains “{f.user}”")
    base = view.params({}, pathname)
    for name, value in view.params(params, pathname).items():
        if value is not None and value != base.get(name):
            out.append(f"{name.replace('_', ' ')} {str(value).replace('_', ' ')}")
    headers = {c.field: c.header for c in view.columns}
    for field, model in (filter_model or {}).items() if isinstance(filter_model, dict) else ():
        if field in headers and isinstance(model, dict) and model.get("type"):
            op = {"notContains": "does not contain", "startsWith": "starts with", "notBlank": "is not blank",
                  "greaterThan": ">", "lessThan": "<", "equals": "=", "inRange": "between"}.get(
                model["type"], model["type"])
            shown = (lambda v: f"“{v}”" if isinstance(v, str) else str(v))
            value = "" if model["type"] in NO_VALUE_OPS else f" {shown(model.get('filter'))}" + (
                f" and {shown(model.get('filterTo'))}" if model["type"] == "inRange" else "")
            out.append(f"column {headers[field]} {op}{value}")
    return out


def empty_message(ctx: AppContext, view: GridView, search: str | None, pathname: str | None,
                  filter_model) -> str:
    """What is empty and why: nothing at all, or nothing that matches the filters (and how much without them)."""
    params = urlstate.parse(search)
    active = describe_filters(view, params, pathname, filter_model)
    if not active:
        return f"No {view.noun}: {view.none}."
    try:
        without = count_rows(ctx.engine, view.table, Filters(), **view.params({}, pathname))
    except MissingTables:
        without = 0
    tail = (f" Without them there are {count(without)}." if without else f" There are none at all: {view.none}.")
    return f"No {view.noun} match these filters: {'; '.join(active)}.{tail}"


def warm_grids(ctx: AppContext) -> None:
    """Read every tab grid's first page in its default view once, as the browser asks for it (fills the count and
    page caches: the first visitor after an ingest does not wait for a COUNT over a large table). A ledger's grid
    depends on its user: not here."""
    for view in list(GRIDS.values()):
        if view.tab != "ledger":
            page(ctx.engine, view.table, Filters(), start=0, end=view.page_size,
                 sort_model=[{"colId": f, "sort": d} for f, d in view.table.default_sort], filter_model={},
                 **view.params({}, "/" + view.tab))


def register(app, ctx: AppContext) -> None:
    @app.callback(Output({"type": "grid", "tab": MATCH, "name": MATCH}, "getRowsResponse"),
                  Output({"type": "grid-state", "tab": MATCH, "name": MATCH}, "data"),
                  Output({"type": "grid-empty", "tab": MATCH, "name": MATCH}, "children"),
                  Input({"type": "grid", "tab": MATCH, "name": MATCH}, "getRowsRequest"),
                  State("url", "search"), State("url", "pathname"),
                  prevent_initial_call=True)  # a grid inserted without a page request yet: nothing to answer
    def grid_rows(request, search, pathname):
        name = (callback_context.outputs_list or [{}])[0].get("id", {}).get("name")
        view = GRIDS.get(name)
        if view is None or not isinstance(request, dict):
            raise PreventUpdate
        try:
            response = rows_response(ctx, view, request, search, pathname)
            if request.get("startRow", 0):  # a later page: the sort, filters and count are the first page's
                return response, no_update, no_update
            state = {"prefix": view.prefix,
                     "params": url_state(view, request.get("sortModel"), request.get("filterModel"))}
            empty = (empty_message(ctx, view, search, pathname, request.get("filterModel"))
                     if response["rowCount"] == 0 else None)
            return response, state, empty
        except SQLAlchemyError:
            log.exception("grid %s: query failed", name)
            return ({"rowData": [], "rowCount": 0}, no_update,
                    "The rows cannot be read right now; the server log has the details.")

    # A new filter in the URL: every grid on the page goes back to its first page and asks again.
    app.clientside_callback(
        """
        function(search, ids) {
            (ids || []).forEach(function(id) {
                window.dash_ag_grid.getApiAsync(id).then(function(api) {
                    api.paginationGoToFirstPage();
                    api.purgeInfiniteCache();
                }).catch(function() {});
            });
            return window.dash_clientside.no_update;
        }
        """,
        Output("grid-refresh", "data"),
        Input("url", "search"),
        State({"type": "grid", "tab": ALL, "name": ALL}, "id"),
        prevent_initial_call=True,
    )

    # A grid answered with its sort and filters: the address bar shows them (same entry, same page), so a reload
    # or a copied link shows the same rows. Spaces as +, and ':' and ',' left readable, as urlstate.encode does.
    app.clientside_callback(
        """
        function(states) {
            var enc = function(s) {
                return encodeURIComponent(s).replace(/%20/g, '+').replace(/%3A/gi, ':').replace(/%2C/gi, ',');
            };
            var pairs = window.location.search.replace(/^\\?/, '').split('&').filter(Boolean);
            (states || []).forEach(function(state) {
                if (!state || !state.prefix) { return; }
                pairs = pairs.filter(function(pair) {
                    return decodeURIComponent(pair.split('=')[0]).indexOf(state.prefix) !== 0;
                });
                Object.keys(state.params || {}).sort().forEach(function(key) {
                    pairs.push(enc(key) + '=' + enc(state.params[key]));
                });
            });
            var search = pairs.length ? '?' + pairs.join('&') : '';
            if (search !== window.location.search) {
                window.history.replaceState(window.history.state, '',
                                            window.location.pathname + search + window.location.hash);
            }
            return window.dash_clientside.no_update;
        }
        """,
        Output("grid-url", "data"),
        Input({"type": "grid-state", "tab": ALL, "name": ALL}, "data"),
        prevent_initial_call=True,
    )
