"""Tab 3, Reconciliation: mismatched balances from `discrepancy_report`, the amount at stake per currency,
an Export CSV of the whole filtered result, and the review panel of the selected row (app/review.py). URL
parameters: `kind`, `status`, `review`.

The export is a plain link to /export/discrepancies.csv with the page's query string (plus the grid's sort and
column filters): the server streams every matching row through the same query function as the grid.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from urllib.parse import parse_qsl

from dash import Input, Output, html
from flask import Response, request, stream_with_context

from app import grid, review, urlstate
from app.context import AppContext
from app.grid import GridColumn, GridView
from app.ui import ANY, count, kpi, kpi_row, no_rows, param_id, register_sections, section, select, slot
from queries import (DISCREPANCIES, DISCREPANCY_KINDS, DISCREPANCY_STATUSES, Filters, MissingTables, all_rows,
                     stake_by_currency)
from queries.base import connect, one_of, require
from queries.csv_export import export_file_name, iter_csv, write_csv
from queries.pseudonym import scrub, user_mapper

NAME = "reconciliation"
PARAMS = ("kind", "status", review.PARAM)
MONEY_FIELDS = tuple(c.field for c in DISCREPANCIES.columns if c.kind == "money")
EXPORT_PATH = "/export/discrepancies.csv"
MAX_MODEL_TEXT = 4000  # characters of a grid sort or filter model in the export link


def _params(params: dict, pathname=None) -> dict:
    return {"kind": one_of(params.get("kind"), DISCREPANCY_KINDS),
            "status": one_of(params.get("status"), DISCREPANCY_STATUSES)}


def _grid_params(params: dict, pathname=None) -> dict:
    """The grid's and the export's: the cards' filters and the review status."""
    return {**_params(params), **review.params(params)}


GRID = grid.add(GridView(NAME, DISCREPANCIES, (
    GridColumn("detected_at", "Detected (UTC)", 210), GridColumn("business_date", "Business day", 120),
    GridColumn("kind", "Kind", 110), GridColumn("status", "Status", 95), GridColumn("user_id", "User", 315),
    GridColumn("currency", "Cur.", 90), GridColumn("amount_at_stake", "At stake", 120),
    GridColumn("difference", "Difference", 120), GridColumn("subscription_balance", "Subscription bal.", 145),
    GridColumn("payment_balance", "Payment bal.", 130), GridColumn("explanation", "Explanation", 380),
    GridColumn("transaction_id", "Transaction", 240), GridColumn("discrepancy_id", "Discrepancy", 200),
    GridColumn("resolved_at", "Resolved (UTC)", 190), GridColumn("file", "File", 300),
    GridColumn("line_no", "Line", 80))
    + review.GRID_COLUMNS, params=_grid_params))


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
        section("Mismatched balances", review.grid_component(GRID),
                subtitle="Sort and filter in the column headers; click a user for the ledger, a row to review it",
                tools=html.Div([
                    review.status_filter(NAME, params),
                    html.A("Export CSV", id="reconciliation-export", href=EXPORT_PATH, download="",
                           className="btn btn-primary btn-sm",
                           title="Every row of the filtered result, sorted and filtered like the grid"),
                    # for sharing outside the finance team: user ids replaced by keyed hashes (PSEUDONYMISE_KEY)
                    html.A("Pseudonymised", id="reconciliation-export-pseudo", href=EXPORT_PATH + "?pseudonymise=1",
                           download="", className="btn btn-outline-primary btn-sm",
                           title="The same export with every user id replaced by its keyed hash",
                           style=None if ctx.settings.get("PSEUDONYMISE_KEY") else {"display": "none"}),
                ], className="d-flex gap-2 align-items-end")),
        review.panel(GRID),
        review.orphans_section(),
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

def export_name(filters: Filters, kind: str | None, status: str | None, review_status: str | None = None) -> str:
    """e.g. discrepancies_sync_open_BHD_2024-01-01_to_2024-01-31.csv; unfiltered parts say "all"."""
    pieces = [kind or "all-kinds", status or "open-and-resolved", filters.currency or "all-currencies",
              filters.date_from_text or "start", "to", filters.date_to_text or "end"]
    if filters.user:
        pieces.append("user-" + filters.user)
    if review_status:
        pieces.append("review-" + review_status)
    return export_file_name("discrepancies", pieces)


def export_rows(ctx: AppContext, search: str) -> tuple[str, list[str], Iterator[list]]:
    """(file name, header, rows) of the whole filtered result, in the grid's order and with its column filters.

    `search` is the page's query string plus, optionally, `sort` and `filter`: the grid's sort and filter models
    as JSON (checked like any grid request). Amounts are exact decimals in the currency's precision without
    thousands separators, so spreadsheets read them as numbers; csv_export neutralises formulas.
    """
    params = urlstate.parse(search)
    models = dict(parse_qsl((search or "").lstrip("?")))
    f = urlstate.filters(params)
    p = _grid_params(params)
    fields = [c.field for c in DISCREPANCIES.columns]
    rows = all_rows(ctx.engine, DISCREPANCIES, f, sort_model=_json(models.get("sort"), list),
                    filter_model=_json(models.get("filter"), dict), **p)
    name = export_name(f, p["kind"], p["status"], p[review.PARAM])
    if models.get("pseudonymise") == "1":
        rows, name = _pseudonymised(ctx, rows), name.replace(".csv", "_pseudonymised.csv")
    return (name, fields,
            ([ctx.exact(r[k], r["currency"]) if k in MONEY_FIELDS else r[k] for k in fields] for r in rows))


class PseudonymKeyMissing(ValueError):
    pass


def _pseudonymised(ctx: AppContext, rows: Iterator[dict]) -> Iterator[dict]:
    """Rows with user ids replaced by their keyed hash, also inside the explanation (queries.pseudonym).
    Raises at once, before any row is streamed, when no key is configured."""
    key = ctx.settings.get("PSEUDONYMISE_KEY")
    if not key:
        raise PseudonymKeyMissing("a pseudonymised export needs PSEUDONYMISE_KEY in the environment or .env")
    return _replace_user_ids(rows, user_mapper(key))


def _replace_user_ids(rows: Iterator[dict], token_of) -> Iterator[dict]:
    for row in rows:
        row = dict(row)
        token = token_of(row.get("user_id"))
        row["explanation"] = scrub(row.get("explanation"), row.get("user_id"), token)
        row["review_note"] = scrub(row.get("review_note"), row.get("user_id"), token)
        row["user_id"] = token
        yield row


def _json(text: str | None, kind: type):
    try:
        value = json.loads(text) if text and len(text) <= MAX_MODEL_TEXT else None
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


def export_href(search: str | None, grid_request: dict | None) -> str:
    """The download link for the current view: its filters, and the grid's sort and column filters."""
    params = urlstate.parse(search)
    request = grid_request or {}
    for name, key in (("sort", "sortModel"), ("filter", "filterModel")):
        if request.get(key):
            params[name] = json.dumps(request[key], separators=(",", ":"))
    return EXPORT_PATH + urlstate.encode(params)


def export_csv(ctx: AppContext, search: str) -> tuple[str, str, int]:
    """(file name, CSV text, row count) in one string: for tests and small results (the page streams)."""
    name, header, rows = export_rows(ctx, search)
    lines = list(rows)
    return name, write_csv(header, lines), len(lines)


def export_response(ctx: AppContext):
    """Flask view: the CSV streamed in chunks (a million rows keep memory flat), named after what it holds."""
    search = "?" + request.query_string.decode("utf-8", "replace")
    try:
        with connect(ctx.engine) as conn:
            require(conn, *DISCREPANCIES.needs)
    except MissingTables as exc:
        return Response(f"Nothing to export: {exc}. Run the ingest (and transform) first.\n", 404,
                        mimetype="text/plain")
    try:
        name, header, rows = export_rows(ctx, search)
    except PseudonymKeyMissing as exc:
        return Response(f"{exc}\n", 400, mimetype="text/plain")
    return Response(stream_with_context(iter_csv(header, rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"reconciliation-stake": render_stake}, tab_params=PARAMS)
    app.server.add_url_rule(EXPORT_PATH, "export_discrepancies", lambda: export_response(ctx))
    review.register(app, ctx, GRID, tab_params=PARAMS, orphans=True)

    @app.callback(Output("reconciliation-export", "href"), Output("reconciliation-export", "title"),
                  Input("url", "search"), Input(GRID.id, "getRowsRequest"))
    def export_link(search, grid_request):
        params = urlstate.parse(search)
        p = _grid_params(params)
        return export_href(search, grid_request), "Download " + export_name(urlstate.filters(params), p["kind"],
                                                                             p["status"], p[review.PARAM])

    @app.callback(Output("reconciliation-export-pseudo", "href"), Input("reconciliation-export", "href"))
    def pseudonymised_link(href):
        return (href or EXPORT_PATH) + ("&" if "?" in (href or "") else "?") + "pseudonymise=1"
