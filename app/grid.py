"""Grids that page, sort and filter in SQL (AG Grid's infinite row model, one page per request).

Each grid is a `GridView` over a `TableQuery`: its id is
`{"type": "grid", "tab": <tab>, "name": <table>}`, one MATCH callback answers
every grid's page requests from the URL's filters, a client-side callback
sends grids back to page 1 when the URL changes, and clicking a user id in
any grid opens that user's ledger.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import dash_ag_grid as dag
from dash import ALL, MATCH, Input, Output, State, callback_context
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from app import urlstate
from app.context import AppContext
from app.ui import count, log
from queries import MissingTables, TableQuery, page

PAGE_SIZE = 20
# integer columns that are numbers to look up, not quantities: shown without thousands separators
IDENTIFIERS = frozenset({"line_no", "file_id", "run_id", "event_id", "quarantine_id", "discrepancy_id",
                         "anomaly_id", "user_seq", "exit_code"})
TEXT_FILTER = {"filter": "agTextColumnFilter",
               "filterParams": {"filterOptions": ["contains", "equals", "startsWith", "notContains", "blank",
                                                  "notBlank"], "maxNumConditions": 1,
                                "buttons": ["reset", "apply"], "closeOnApply": True}}
NUMBER_FILTER = {"filter": "agNumberColumnFilter",
                 "filterParams": {"filterOptions": ["greaterThan", "lessThan", "equals", "inRange", "blank"],
                                  "maxNumConditions": 1, "buttons": ["reset", "apply"], "closeOnApply": True}}


@dataclasses.dataclass(frozen=True)
class GridColumn:
    field: str
    header: str
    width: int | None = None
    pinned: str | None = None
    hide: bool = False


@dataclasses.dataclass(frozen=True)
class GridView:
    tab: str
    table: TableQuery
    columns: tuple[GridColumn, ...]
    params: Callable[[dict, str | None], dict] = lambda params, pathname: {}  # URL -> query keyword args
    enrich: Callable[[AppContext, list[dict]], list[dict]] | None = None
    page_size: int = PAGE_SIZE
    height: int = 560

    @property
    def id(self) -> dict:
        return {"type": "grid", "tab": self.tab, "name": self.table.name}


GRIDS: dict[str, GridView] = {}


def add(view: GridView) -> GridView:
    GRIDS[view.table.name] = view
    return view


def component(view: GridView) -> dag.AgGrid:
    kinds = view.table.by_field
    defs = []
    for col in view.columns:
        kind = kinds[col.field].kind if col.field in kinds else None
        d = {"field": col.field, "headerName": col.header, "hide": col.hide, "sortable": kind is not None}
        if kind is None:  # computed after the page query (e.g. linked discrepancies): not sortable in SQL
            d.update(filter=False)
        elif kind in ("money", "int", "num"):
            d.update(NUMBER_FILTER, type="rightAligned", cellClass="numeric")
        elif kind == "bool":
            d.update(filter=False, cellClass="flag")
        else:
            d.update(TEXT_FILTER)
        if col.field == "user_id":
            d["cellClass"] = "user-link"
            d["tooltipValueGetter"] = {"function": "'Open the ledger of ' + params.value"}
        if col.field == "file":
            d["tooltipField"] = "file_path"
        if col.width:
            d["width"] = col.width
        if col.pinned:
            d["pinned"] = col.pinned
        if view.table.default_sort and col.field == view.table.default_sort[0][0]:
            d["sort"] = view.table.default_sort[0][1]  # the header shows the order the rows come in
        defs.append(d)
    return dag.AgGrid(
        id=view.id,
        columnDefs=defs,
        rowModelType="infinite",
        defaultColDef={"resizable": True, "minWidth": 70, "suppressHeaderMenuButton": False},
        dashGridOptions={"pagination": True, "paginationPageSize": view.page_size,
                         "cacheBlockSize": view.page_size, "maxBlocksInCache": 5, "infiniteInitialRowCount": 1,
                         "paginationPageSizeSelector": False, "rowHeight": 32, "headerHeight": 36,
                         "tooltipShowDelay": 400, "enableCellTextSelection": True, "ensureDomOrder": True,
                         "suppressMultiSort": False, "domLayout": "autoHeight"},
        rowClassRules={"row-flagged": "params.data && (params.data.is_calc_mismatch === 'yes' || "
                                      "params.data.is_continuity_break === 'yes')"},
        style={"width": "100%"},  # autoHeight: one whole page shows, no scrollbar inside the grid
        className="data-grid",
    )


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


def rows_response(ctx: AppContext, view: GridView, request: dict | None, search: str | None,
                  pathname: str | None) -> dict:
    """The getRowsResponse for one page request: formatted rows and the total count."""
    request = request or {}
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
    # rowCount -1: more rows than were counted (AG Grid shows "of more" until the last page is reached)
    return {"rowData": [format_row(ctx, view.table, r) for r in rows], "rowCount": -1 if total is None else total}


def register(app, ctx: AppContext) -> None:
    @app.callback(Output({"type": "grid", "tab": MATCH, "name": MATCH}, "getRowsResponse"),
                  Input({"type": "grid", "tab": MATCH, "name": MATCH}, "getRowsRequest"),
                  State("url", "search"), State("url", "pathname"))
    def grid_rows(request, search, pathname):
        name = (callback_context.outputs_list or {}).get("id", {}).get("name")
        view = GRIDS.get(name)
        if view is None or request is None:
            raise PreventUpdate
        try:
            return rows_response(ctx, view, request, search, pathname)
        except SQLAlchemyError:
            log.exception("grid %s: query failed", name)
            return {"rowData": [], "rowCount": 0}

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

    @app.callback(Output("url", "pathname"),
                  Input({"type": "grid", "tab": ALL, "name": ALL}, "cellClicked"),
                  prevent_initial_call=True)
    def open_ledger(_clicks):
        return ledger_target(callback_context.triggered)


def ledger_target(triggered) -> str:
    """The ledger path for a click on a user id cell; anything else changes nothing."""
    for item in triggered or ():
        click = item.get("value") or {}
        if isinstance(click, dict) and click.get("colId") == "user_id" and click.get("value"):
            return urlstate.ledger_path(str(click["value"]))
    raise PreventUpdate
