"""Tab 3, Reconciliation: one row per issue of `discrepancy_report` (an out-of-sync episode, a calculation or
continuity break), the open exposure per currency with its ageing, the balance roll-forward, two exports (the
filtered issues, and the transactions behind them) and the review panel of the selected row (app/review.py).
URL parameters: `kind`, `status`, `review`, `as_of`.

The exports are plain links to /export/discrepancies.csv and /export/discrepancy-transactions.csv with the
page's query string (the grid's sort and column filters included): the server streams every matching row
through the same query functions as the grid.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from dash import Input, Output, html
from flask import Response, request, stream_with_context

from app import grid, review, urlstate
from app.context import AppContext
from app.grid import CURRENCY_WIDTH, ULID_WIDTH, USER_WIDTH, GridColumn, GridView
from app.ui import (ANY, count, date_input, kpi, kpi_row, no_rows, param_id, register_sections, section, select,
                    slot, table)
from queries import (AGE_BUCKETS, DISCREPANCIES, DISCREPANCY_KINDS, DISCREPANCY_STATUSES, DISCREPANCY_TRANSACTIONS,
                     Filters, MissingTables, all_rows, data_last_day, exposure, other_issues, rollforward)
from queries.base import connect, one_of, parse_date, require
from queries.csv_export import export_file_name, iter_csv, write_csv
from queries.pseudonym import scrub, user_mapper

NAME = "reconciliation"
PARAMS = ("kind", "status", review.PARAM, "as_of")
EXPORT_PATH = "/export/discrepancies.csv"
TRANSACTIONS_PATH = "/export/discrepancy-transactions.csv"
KIND_LABELS = {"out_of_sync": "out of sync", "calculation": "calculation", "continuity": "continuity",
               "untied_error": "untied error"}


def _params(params: dict, pathname=None) -> dict:
    return {"kind": one_of(params.get("kind"), DISCREPANCY_KINDS),
            "status": one_of(params.get("status"), DISCREPANCY_STATUSES)}


def _as_of(params: dict) -> str | None:
    day = parse_date(params.get("as_of"))
    return day.isoformat() if day else None


def _grid_params(params: dict, pathname=None) -> dict:
    """The grid's and the export's: the kind and status, and the review status."""
    return {**_params(params), **review.params(params)}


# What an accountant compares first sits side by side in view at 1440 px: the subscription balance, the
# payment wallet and the gap between them; then the amounts, the ids (links) and the provenance.
GRID = grid.add(GridView(NAME, DISCREPANCIES, (
    GridColumn("first_seen_at", "First seen (UTC)"), GridColumn("kind", "Kind", 100),
    GridColumn("user_id", "User", USER_WIDTH, link="ledger"), GridColumn("currency", "Cur.", CURRENCY_WIDTH),
    GridColumn("subscription_balance", "Subscription balance"), GridColumn("payment_balance", "Payment balance"),
    GridColumn("current_gap", "Current gap"), GridColumn("status", "Status", 90),
    GridColumn("amount_at_stake", "At stake"), GridColumn("age_days", "Age (days)", 96),
    GridColumn("opening_gap", "Opening gap"), GridColumn("max_abs_gap", "Largest gap"),
    GridColumn("count_transactions", "Transactions"), GridColumn("count_lambda_errors", "Lambda errors"),
    GridColumn("explanation", "Explanation", 420),
    GridColumn("discrepancy_id", "Discrepancy", ULID_WIDTH + 96, link="issue"),
    GridColumn("first_transaction_id", "First transaction", ULID_WIDTH, link="transaction"),
    GridColumn("last_transaction_id", "Last transaction", ULID_WIDTH, link="transaction"),
    GridColumn("resolving_transaction_id", "Resolved by", ULID_WIDTH, link="transaction"),
    GridColumn("resolved_at", "Resolved (UTC)"), GridColumn("business_date", "Business day"),
    GridColumn("file", "File", 300), GridColumn("line_no", "Line", 80))
    + review.GRID_COLUMNS, key=urlstate.ISSUES_GRID, noun="issues",
    none="every transaction's balances agree and follow on from the one before", params=_grid_params))


def layout(ctx: AppContext, params: dict) -> html.Div:
    p = _params(params)
    return html.Div([
        section("Open exposure", slot("reconciliation-stake", 110),
                subtitle=("Open out-of-sync episodes per currency: each out-of-sync user's current gap between "
                          "the subscription balance and the payment wallet, counted once (never added across "
                          "currencies), now or at the end of the day chosen; issues first seen within the dates "
                          "above"),
                tools=html.Div([
                    html.Div([html.Label("As of (business day)", className="form-label small text-muted mb-0"),
                              date_input(param_id(NAME, "as_of"), "the business day whose end the exposure is "
                                         "taken at (YYYY-MM-DD); empty: the last day of the data", _as_of(params)),
                              html.Div(id="reconciliation-as-of-problem", className="date-problem", role="alert")],
                             className="param"),
                ], className="d-flex gap-2 align-items-end")),
        section("Balance roll-forward", slot("reconciliation-rollforward", 110),
                subtitle=("Per currency and business month: opening + balances first seen + credits − debits "
                          "+ calculation differences + continuity gaps = closing (net of VAT; all users, "
                          "whatever the filters)")),
        section("Issues", review.grid_component(GRID, params),
                subtitle=("One row per issue: an out-of-sync episode (a user's run of transactions whose "
                          "balances disagree), a calculation or continuity break; click a user for the ledger, a "
                          "row to review it"),
                tools=html.Div([
                    select(param_id(NAME, "kind"), [{"label": "All kinds", "value": ANY}] +
                           [{"label": KIND_LABELS[k], "value": k} for k in DISCREPANCY_KINDS], p["kind"],
                           label="Kind"),
                    select(param_id(NAME, "status"), [{"label": "Open and resolved", "value": ANY}] +
                           [{"label": s, "value": s} for s in DISCREPANCY_STATUSES], p["status"], label="Status"),
                    review.status_filter(NAME, params),
                    html.A("Export CSV", id="reconciliation-export", href=EXPORT_PATH, download="",
                           className="btn btn-primary btn-sm align-self-end",
                           title="Every issue of the filtered result, sorted and filtered like the grid"),
                    html.A("Transactions CSV", id="reconciliation-export-transactions", href=TRANSACTIONS_PATH,
                           download="", className="btn btn-outline-primary btn-sm align-self-end",
                           title="Every transaction behind the filtered issues (and the one that resolved each)"),
                    # for sharing outside the finance team: user ids replaced by keyed hashes (PSEUDONYMISE_KEY)
                    html.A("Pseudonymised", id="reconciliation-export-pseudo", href=EXPORT_PATH + "?pseudonymise=1",
                           download="", className="btn btn-outline-primary btn-sm align-self-end",
                           title="The issues export with every user id replaced by its keyed hash",
                           style=None if ctx.settings.get("PSEUDONYMISE_KEY") else {"display": "none"}),
                ], className="d-flex gap-2 align-items-end")),
        review.panel(GRID),
        review.orphans_section(),
    ])


def render_stake(ctx: AppContext, search: str, pathname=None):
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    chosen = _as_of(params)
    as_of = chosen or data_last_day(ctx.engine)
    open_episodes = {e.currency or "—": e for e in exposure(ctx.engine, f, as_of)}
    others: dict[str, list[dict]] = defaultdict(list)
    for r in other_issues(ctx.engine, f):
        others[r["currency"] or "—"].append(r)
    if not open_episodes and not others:
        return no_rows(grid.empty_message(ctx, GRID, urlstate.encode({k: v for k, v in params.items()
                                                                       if k in urlstate.GLOBAL_PARAMS}),
                                          pathname, None).replace("No issues", "No open exposure and no breaks: no "
                                                                               "issues", 1))
    cards = []
    for cur in sorted(set(open_episodes) | set(others)):
        e = open_episodes.get(cur)
        lines = []
        if e:
            lines.append(html.Div(f"{count(e.count_open)} open episode{'s' if e.count_open != 1 else ''}, "
                                  f"{count(e.count_users)} user{'s' if e.count_users != 1 else ''}",
                                  className="kpi-line"))
            lines.append(html.Div(f"subscription above wallet {ctx.money(e.subscription_above, cur)} "
                                  "(meals not paid for)", className="kpi-line"))
            lines.append(html.Div(f"subscription below wallet {ctx.money(e.subscription_below, cur)} "
                                  "(money received, not credited)", className="kpi-line"))
            if e.count_unknown_gap:
                lines.append(html.Div(f"{count(e.count_unknown_gap)} with no wallet printed (legacy), not counted",
                                      className="kpi-line text-muted"))
            lines.append(_ageing(ctx, e, cur, as_of))
        for r in others.get(cur, []):
            lines.append(html.Div(f"{KIND_LABELS.get(r['kind'], r['kind'])} breaks: {count(r['count_issues'])} "
                                  f"({count(r['count_open'])} open) · {ctx.money(r['amount_at_stake'], cur)}",
                                  className="kpi-line"))
        total = e.exposure if e else 0
        title = f"{cur} open exposure" + (f" at the end of {chosen}" if chosen else "")
        cards.append(kpi(title, ctx.money(total, cur), html.Div(lines),
                         tone="negative" if total else ""))
    return kpi_row(cards)


def _ageing(ctx: AppContext, e, cur: str, as_of: str | None):
    rows = [[label, count(e.ageing.get(label, (0, 0))[0]), ctx.money(e.ageing.get(label, (0, 0))[1], cur)]
            for label, _, _ in AGE_BUCKETS]
    return table(["age", "episodes", "gap"], rows, numeric=(1, 2), class_name="ageing mt-1",
                 caption=f"Age since first seen, as of {as_of or 'the last day'}")


ROLLFORWARD_COLUMNS = (("opening_balance", "Opening"), ("first_seen_balances", "First seen"),
                       ("credits", "Credits"), ("debits", "Debits"),
                       ("calculation_differences", "Calculation diff."), ("continuity_gaps", "Continuity gaps"),
                       ("closing_balance", "Closing"))


def render_rollforward(ctx: AppContext, search: str, pathname=None):
    f = urlstate.filters(search)
    rows = rollforward(ctx.engine, f.currency)
    if not rows:
        return no_rows("No applied transactions of known users yet.")
    header = ["Currency", "Month"] + [label for _, label in ROLLFORWARD_COLUMNS] + ["Transactions", "Users"]
    body = [[r["currency"], r["month"]]
            + [ctx.money(-r[k] if k == "debits" else r[k], r["currency"]) for k, _ in ROLLFORWARD_COLUMNS]
            + [count(r["count_transactions"]), count(r["count_users"])] for r in rows]
    return table(header, body, numeric=tuple(range(2, len(header))), class_name="rollforward")


# --- export ----------------------------------------------------------------------------------------

def export_name(filters: Filters, kind: str | None, status: str | None, review_status: str | None = None,
                what: str = "discrepancies") -> str:
    """e.g. discrepancies_out-of-sync_open_BHD_2024-01-01_to_2024-01-31.csv; unfiltered parts say "all"."""
    pieces = [kind or "all-kinds", status or "open-and-resolved", filters.currency or "all-currencies",
              filters.date_from_text or "start", "to", filters.date_to_text or "end"]
    if filters.user:
        pieces.append("user-" + filters.user)
    if review_status:
        pieces.append("review-" + review_status)
    return export_file_name(what, pieces)


EXPORTS = {EXPORT_PATH: (DISCREPANCIES, "discrepancies"),
           TRANSACTIONS_PATH: (DISCREPANCY_TRANSACTIONS, "discrepancy-transactions")}


def export_rows(ctx: AppContext, search: str, path: str = EXPORT_PATH) -> tuple[str, list[str], Iterator[list]]:
    """(file name, header, rows) of the whole filtered result, in the grid's order and with its column filters.

    `search` is the page's query string, with the grid's sort and column filters as the page's URL has them
    (`issues.sort=…`, `issues.<column>=…`, see app/grid.py; the transactions export takes the issues' tab
    filters only). Amounts are exact decimals in the currency's precision without thousands separators, so
    spreadsheets read them as numbers; csv_export neutralises formulas.
    """
    query, what = EXPORTS[path]
    params = urlstate.parse(search)
    f = urlstate.filters(params)
    p = _grid_params(params)
    fields = [c.field for c in query.columns]
    money = {c.field for c in query.columns if c.kind == "money"}
    if query is DISCREPANCIES:
        sort_model, filter_model = grid.from_url(GRID, params)
        rows = all_rows(ctx.engine, query, f, sort_model=sort_model, filter_model=filter_model, **p)
    else:  # the transactions of the filtered issues (the review filter is the issues' own)
        rows = all_rows(ctx.engine, query, f, kind=p["kind"], status=p["status"])
    name = export_name(f, p["kind"], p["status"], p[review.PARAM], what)
    if params.get("pseudonymise") == "1":
        rows, name = _pseudonymised(ctx, rows), name.replace(".csv", "_pseudonymised.csv")
    return (name, fields,
            ([ctx.exact(r[k], r["currency"]) if k in money else r[k] for k in fields] for r in rows))


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
        for text_column in ("explanation", "review_note"):
            if text_column in row:
                row[text_column] = scrub(row.get(text_column), row.get("user_id"), token)
        row["user_id"] = token
        yield row


def export_href(search: str | None, grid_request: dict | None, path: str = EXPORT_PATH) -> str:
    """The download link for the current view: its filters, and the grid's sort and column filters as the grid's
    latest page request has them (before the first one, as the URL has them)."""
    if path == EXPORT_PATH and isinstance(grid_request, dict):
        return path + grid.page_search(GRID, search, grid_request)
    params = urlstate.parse(search)
    if path != EXPORT_PATH:
        params = grid.without_grid_params(params, GRID)
    return path + urlstate.encode(params)


def export_csv(ctx: AppContext, search: str, path: str = EXPORT_PATH) -> tuple[str, str, int]:
    """(file name, CSV text, row count) in one string: for tests and small results (the page streams)."""
    name, header, rows = export_rows(ctx, search, path)
    lines = list(rows)
    return name, write_csv(header, lines), len(lines)


def export_response(ctx: AppContext, path: str = EXPORT_PATH):
    """Flask view: the CSV streamed in chunks (a million rows keep memory flat), named after what it holds."""
    search = "?" + request.query_string.decode("utf-8", "replace")
    try:
        with connect(ctx.engine) as conn:
            require(conn, *EXPORTS[path][0].needs)
    except MissingTables as exc:
        return Response(f"Nothing to export: {exc}. Run the ingest (and transform) first.\n", 404,
                        mimetype="text/plain")
    try:
        name, header, rows = export_rows(ctx, search, path)
    except PseudonymKeyMissing as exc:
        return Response(f"{exc}\n", 400, mimetype="text/plain")
    return Response(stream_with_context(iter_csv(header, rows)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def register(app, ctx: AppContext) -> None:
    register_sections(app, ctx, {"reconciliation-stake": render_stake,
                                 "reconciliation-rollforward": render_rollforward,
                                 review.ORPHANS: review.render_orphans})
    app.server.add_url_rule(EXPORT_PATH, "export_discrepancies", lambda: export_response(ctx))
    app.server.add_url_rule(TRANSACTIONS_PATH, "export_discrepancy_transactions",
                            lambda: export_response(ctx, TRANSACTIONS_PATH))
    review.register(app, ctx, GRID)

    @app.callback(Output(param_id(NAME, "as_of"), "invalid"), Output("reconciliation-as-of-problem", "children"),
                  Input(param_id(NAME, "as_of"), "value"), prevent_initial_call=True)
    def as_of_problem(value):
        problem = urlstate.date_problem(value)
        return bool(problem), (problem + "; the exposure keeps the day it had") if problem else None

    @app.callback(Output("reconciliation-export", "href"), Output("reconciliation-export", "title"),
                  Output("reconciliation-export-transactions", "href"), Output("reconciliation-export-pseudo", "href"),
                  Input("url", "search"), Input(GRID.id, "getRowsRequest"))
    def export_link(search, grid_request):
        params = urlstate.parse(search)
        p = _grid_params(params)
        href = export_href(search, grid_request)
        return (href, "Download " + export_name(urlstate.filters(params), p["kind"], p["status"], p[review.PARAM]),
                export_href(search, None, TRANSACTIONS_PATH), pseudonymised_href(href))


def pseudonymised_href(href: str) -> str:
    return href + ("&" if "?" in href else "?") + "pseudonymise=1"
