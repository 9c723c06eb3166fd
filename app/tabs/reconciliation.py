"""Tab 3, Reconciliation: mismatched balances from `discrepancy_report`, the amount at stake per currency,
and an Export CSV of the whole filtered result. URL parameters: `kind`, `status`."""
from __future__ import annotations

from collections import defaultdict

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from app import grid, urlstate
from app.context import AppContext
from app.csv_export import export_file_name, write_csv
from app.grid import GridColumn, GridView
from app.queries import (DISCREPANCIES, DISCREPANCY_KINDS, DISCREPANCY_STATUSES, Filters, MissingTables, all_rows,
                         stake_by_currency)
from app.queries.base import one_of
from app.ui import ANY, count, error_state, kpi, kpi_row, log, missing_state, no_rows, param_id, register_sections
from app.ui import section, select, slot

NAME = "reconciliation"
PARAMS = ("kind", "status")
MONEY_FIELDS = tuple(c.field for c in DISCREPANCIES.columns if c.kind == "money")


def _params(params: dict, pathname=None) -> dict:
    return {"kind": one_of(params.get("kind"), DISCREPANCY_KINDS),
            "status": one_of(params.get("status"), DISCREPANCY_STATUSES)}


GRID = grid.add(GridView(NAME, DISCREPANCIES, (
    GridColumn("detected_at", "Detected (UTC)", 210), GridColumn("business_date", "Business day", 120),
    GridColumn("kind", "Kind", 110), GridColumn("status", "Status", 95), GridColumn("user_id", "User", 315),
    GridColumn("currency", "Cur.", 90), GridColumn("amount_at_stake", "At stake", 120),
    GridColumn("difference", "Difference", 120), GridColumn("subscription_balance", "Subscription bal.", 145),
    GridColumn("payment_balance", "Payment bal.", 130), GridColumn("explanation", "Explanation", 380),
    GridColumn("transaction_id", "Transaction", 240), GridColumn("discrepancy_id", "Discrepancy", 200),
    GridColumn("resolved_at", "Resolved (UTC)", 190), GridColumn("file", "File", 300),
    GridColumn("line_no", "Line", 80)), params=_params))


def layout(ctx: AppContext, params: dict) -> html.Div:
    p = _params(params)
    return html.Div([
        section("Amount at stake", slot("reconciliation-stake", 110),
                subtitle="Per currency (never added across currencies), for the filters below",
                tools=html.Div([
                    select(param_id(NAME, "kind"), [{"label": "All kinds", "value": ANY}] +
                           [{"label": k, "value": k} for k in DISCREPANCY_KINDS], p["kind"], label="Kind"),
                    select(param_id(NAME, "status"), [{"label": "Open and resolved", "value": ANY}] +
                           [{"label": s, "value": s} for s in DISCREPANCY_STATUSES], p["status"], label="Status"),
                ], className="d-flex gap-2 align-items-end")),
        section("Mismatched balances", grid.component(GRID),
                subtitle="Sort and filter in the column headers; click a user for the ledger",
                tools=html.Div([
                    dbc.Button("Export CSV", id="reconciliation-export", color="primary", size="sm"),
                    dcc.Download(id="reconciliation-download"),
                    html.Div(id="reconciliation-export-status", className="small text-muted ms-2"),
                ], className="d-flex align-items-center")),
    ])


def render_stake(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    rows = stake_by_currency(ctx.engine, urlstate.filters(params), **_params(params))
    if not rows:
        return no_rows("No discrepancies match these filters.")
    per_currency: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        per_currency[r["currency"] or "—"].append(r)
    cards = []
    for cur, items in sorted(per_currency.items()):
        stake = sum(i["amount_at_stake"] for i in items)
        detail = html.Div([html.Div(f"{i['kind']}: {count(i['count_discrepancies'])} "
                                    f"({count(i['count_open'])} open) · {ctx.money(i['amount_at_stake'], cur)}",
                                    className="kpi-line") for i in items])
        cards.append(kpi(f"{cur} at stake", ctx.money(stake, cur),
                         html.Div([html.Div(f"{count(sum(i['count_discrepancies'] for i in items))} discrepancies, "
                                            f"{count(sum(i['count_open'] for i in items))} open"), detail]),
                         tone="negative" if stake else ""))
    return kpi_row(cards)


# --- export ----------------------------------------------------------------------------------------

def export_name(filters: Filters, kind: str | None, status: str | None) -> str:
    """e.g. discrepancies_sync_open_BHD_2024-01-01_to_2024-01-31.csv; unfiltered parts say "all"."""
    pieces = [kind or "all-kinds", status or "open-and-resolved", filters.currency or "all-currencies",
              filters.date_from_text or "start", "to", filters.date_to_text or "end"]
    if filters.user:
        pieces.append("user-" + filters.user)
    return export_file_name("discrepancies", pieces)


def export_csv(ctx: AppContext, search: str, grid_request: dict | None = None) -> tuple[str, str, int]:
    """(file name, CSV text, row count): every row of the filtered result, as the grid sorts and filters it.

    Amounts are exact decimals in the currency's precision without thousands separators, so spreadsheets read
    them as numbers; text cells go through safe_cell() (formula injection neutralised).
    """
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    p = _params(params)
    request = grid_request or {}
    fields = [c.field for c in DISCREPANCIES.columns]
    rows = all_rows(ctx.engine, DISCREPANCIES, f, sort_model=request.get("sortModel"),
                    filter_model=request.get("filterModel"), **p)
    n = 0

    def lines():
        nonlocal n
        for r in rows:
            n += 1
            yield [ctx.exact(r[k], r["currency"]) if k in MONEY_FIELDS else r[k] for k in fields]

    text = write_csv(fields, lines())
    return export_name(f, p["kind"], p["status"]), text, n


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"reconciliation-stake": render_stake}, tab_params=PARAMS)

    @app.callback(Output("reconciliation-download", "data"), Output("reconciliation-export-status", "children"),
                  Input("reconciliation-export", "n_clicks"), State("url", "search"),
                  State(GRID.id, "getRowsRequest"), prevent_initial_call=True)
    def download(n_clicks, search, grid_request):
        if not n_clicks:
            raise PreventUpdate
        try:
            name, text, n = export_csv(ctx, search, grid_request)
        except MissingTables as exc:
            return None, missing_state(ctx, exc)
        except Exception as exc:  # noqa: BLE001 - the button must answer, never leave a traceback in the page
            log.exception("export failed")
            return None, error_state(f"{type(exc).__name__}")
        return dict(content=text, filename=name, type="text/csv"), f"{count(n)} rows → {name}"
