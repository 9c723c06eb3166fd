"""The review panel of the Reconciliation and Anomaly Detection tabs (queries/reviews.py).

Selecting a row of the tab's grid opens the panel: the row's review status, assignee and a note, a Save
button, and every earlier review of it under them. The grid shows each row's latest review and filters on its
status (URL parameter `review`); the Reconciliation tab also lists orphaned reviews (of issues a rebuild no
longer produces).

The reviewer never comes from the browser: it is the signed-in basic-auth user when DASH_AUTH_USERS is set,
else REVIEWER_NAME, else the operating-system user running the dashboard (without auth users the dashboard
serves loopback only). With DASH_READ_ONLY=true the controls are not rendered, and the save callback (which
anyone can POST to) refuses through record_review().
"""
from __future__ import annotations

import getpass

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import request
from sqlalchemy.exc import SQLAlchemyError

from app import grid
from app.auth import parse_users
from app.context import AppContext
from app.grid import GridColumn, GridView
from app.ui import ANY, log, no_rows, param_id, section, select, slot
from queries.base import MissingTables, one_of
from queries.reviews import (NEW, REVIEW_STATUSES, ReviewRefused, latest_review, orphaned_reviews, record_review,
                             review_history)

PARAM = "review"
# grid table -> (review target type, the row field holding its id)
TARGETS = {"discrepancies": ("discrepancy", "discrepancy_id"), "anomalies": ("anomaly", "fingerprint")}
# pinned to the right edge: always in view, however far the other columns scroll
GRID_COLUMNS = (GridColumn("review_status", "Review", 112, pinned="right"),
                GridColumn("assignee", "Assignee", 108, pinned="right"))
ORPHANS = "reconciliation-review-orphans"


def _id(tab: str, part: str) -> str:
    return f"{tab}-review-{part}"


def label(status: str | None) -> str:
    return (status or NEW).replace("_", " ")


# --- pieces the tabs put in their layout --------------------------------------------------------------

def params(url_params: dict) -> dict:
    """The grid's (and the export's) review filter from the URL."""
    return {PARAM: one_of(url_params.get(PARAM), REVIEW_STATUSES)}


def status_filter(tab: str, url_params: dict):
    return select(param_id(tab, PARAM), [{"label": "Any review status", "value": ANY}] +
                  [{"label": label(s), "value": s} for s in REVIEW_STATUSES], params(url_params)[PARAM],
                  label="Review")


def grid_component(view: GridView, url_params: dict | None = None):
    """The tab's grid, a row of which is selected by a click (the panel opens for it)."""
    # the row's id, as text (AG Grid's row ids are strings): a selection outlives a refresh of the rows
    return grid.component(view, url_params, get_row_id=f"'' + params.data.{TARGETS[view.table.name][1]}",
                          rowSelection={"mode": "singleRow", "checkboxes": False, "enableClickSelection": True})


def panel(view: GridView) -> dbc.Card:
    tab = view.tab
    return section("Review", [
        dcc.Store(id=_id(tab, "target")), dcc.Store(id=_id(tab, "saved")), dcc.Store(id=_id(tab, "refreshed")),
        html.Div(no_rows("Select a row of the table above to review it."), id=_id(tab, "form")),
        html.Div(id=_id(tab, "message")),
        html.Div(id=_id(tab, "history")),
    ], subtitle="What was done about the selected row, and by whom; every save is kept", class_name="review-panel")


def orphans_section() -> dbc.Card:
    return section("Orphaned reviews", slot(ORPHANS, 40),
                   subtitle="Reviews of issues the latest rebuild no longer produces (kept with their history)")


# --- who reviews ----------------------------------------------------------------------------------------

def reviewer(ctx: AppContext) -> str:
    """The signed-in basic-auth user (checked by app.auth on every request), else REVIEWER_NAME, else the
    operating-system user. An Authorization header is trusted only when DASH_AUTH_USERS makes it checked."""
    auth = request.authorization
    if parse_users(ctx.settings.get("DASH_AUTH_USERS")) and auth is not None and auth.username:
        return auth.username
    return ctx.settings.get("REVIEWER_NAME") or _os_user()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry or a login name
        return "dashboard"


# --- rendering and saving -----------------------------------------------------------------------------

def target_of(view: GridView, rows) -> dict | None:
    """The review target of the grid's selected row (None when nothing is selected)."""
    row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None
    target_type, field = TARGETS[view.table.name]
    if row is None or row.get(field) in (None, ""):
        return None
    what = row.get("kind") or row.get("detector") or ""
    return {"type": target_type, "id": str(row[field]),
            "label": " · ".join(str(p) for p in (f"{target_type} {row[field]}", what, row.get("user_id"),
                                                  row.get("currency")) if p)}


def _valid(target) -> bool:
    """A target as target_of() makes it (the store's content comes back from the browser)."""
    return isinstance(target, dict) and isinstance(target.get("type"), str) and isinstance(target.get("id"), str)


def render_form(ctx: AppContext, tab: str, target: dict | None):
    if not _valid(target):
        return no_rows("Select a row of the table above to review it.")
    current = latest_review(ctx.engine, target["type"], target["id"])
    title = str(target.get("label") or f"{target['type']} {target['id']}")
    head = html.Div([html.Strong(title), html.Span(f" · now: {label(current and current['status'])}",
                                                   className="text-muted")], className="mb-2", id=_id(tab, "title"))
    if ctx.settings.read_only:
        return [head, html.Div("Read-only dashboard (DASH_READ_ONLY=true): reviews are shown, not changed.",
                               className="small text-muted", id=_id(tab, "read-only"))]
    return [head, html.Div([
        html.Div([html.Label("Status", className="form-label small text-muted mb-0"),
                  dbc.Select(id=_id(tab, "status"), size="sm", value=(current or {}).get("status") or NEW,
                             options=[{"label": label(s), "value": s} for s in REVIEW_STATUSES])],
                 style={"width": "170px"}),
        html.Div([html.Label("Assignee", className="form-label small text-muted mb-0"),
                  dbc.Input(id=_id(tab, "assignee"), size="sm", maxLength=64,
                            value=(current or {}).get("assignee") or "", placeholder="who follows it up")],
                 style={"width": "200px"}),
        html.Div([html.Label("Note", className="form-label small text-muted mb-0"),
                  dbc.Textarea(id=_id(tab, "note"), size="sm", maxLength=4000, rows=1,
                               placeholder="what was found or done")], className="flex-grow-1"),
        dbc.Button("Save review", id=_id(tab, "save"), size="sm", color="primary"),
    ], className="d-flex gap-2 align-items-end flex-wrap")]


def render_history(ctx: AppContext, target: dict | None):
    if not _valid(target):
        return None
    entries = review_history(ctx.engine, target["type"], target["id"])
    if not entries:
        return html.Div("Not reviewed yet.", className="small text-muted mt-2")
    return html.Ul([html.Li([
        html.Span(f"{(e['reviewed_at'] or '')[:16].replace('T', ' ')} UTC · {e['reviewer']} · "
                  f"{label(e['previous_status'])} → {label(e['status'])}"),
        html.Span(f" · assignee {e['assignee']}" if e["assignee"] else ""),
        html.Div(e["note"], className="review-note") if e["note"] else None,
    ], className="review-entry") for e in entries], className="review-history list-unstyled small mt-2 mb-0")


def save(ctx: AppContext, target: dict | None, status, assignee, note) -> tuple:
    """(message, saved) for a click on Save: the review recorded, or the one-line reason it was not."""
    if not _valid(target):
        return dbc.Alert("Not saved: select a row first.", color="warning", className="py-1 my-2 small"), None
    try:
        saved = record_review(ctx.engine, ctx.settings, target.get("type"), target.get("id"), status,
                              reviewer=reviewer(ctx), assignee=assignee, note=note)
    except ReviewRefused as exc:
        return dbc.Alert(f"Not saved: {exc}", color="danger", className="py-1 my-2 small"), None
    except MissingTables as exc:
        return dbc.Alert(f"Not saved: the database lacks {', '.join(exc.names)}; run python ingest.py (it upgrades "
                         "the database) and reload the page", color="danger", className="py-1 my-2 small"), None
    except SQLAlchemyError as exc:
        log.exception("saving a review failed")
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        return dbc.Alert(f"Not saved: the database refused the write ({type(exc).__name__}: {reason})",
                         color="danger", className="py-1 my-2 small"), None
    return (dbc.Alert(f"Saved: {label(saved['previous_status'])} → {label(saved['status'])} by {saved['reviewer']}",
                      color="success", className="py-1 my-2 small"),
            {"review_id": saved["review_id"], "type": saved["target_type"], "id": saved["target_id"]})


def render_orphans(ctx: AppContext, search: str, pathname=None):
    found = orphaned_reviews(ctx.engine)
    if not found:
        return html.Div("None: every reviewed issue is in the latest build.", className="small text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Issue", "User", "Review", "Assignee", "By", "When (UTC)",
                                                     "Reviews", "Note")]))
    body = html.Tbody([html.Tr([
        html.Td(f"{r['target_type']} {r['target_id']}"), html.Td(r["user_id"] or ""), html.Td(label(r["status"])),
        html.Td(r["assignee"] or ""), html.Td(r["reviewer"]), html.Td((r["reviewed_at"] or "")[:16].replace("T", " ")),
        html.Td(r["count_reviews"]), html.Td(r["note"] or ""),
    ]) for r in found])
    return dbc.Table([head, body], size="sm", striped=True, className="mb-0 small", id=_id("reconciliation",
                                                                                          "orphans-table"))


def register(app, ctx: AppContext, view: GridView) -> None:
    tab = view.tab

    @app.callback(Output(_id(tab, "target"), "data"), Input(view.id, "selectedRows"), prevent_initial_call=True)
    def select_target(rows):
        return target_of(view, rows)

    # A new selection shows its form and history; a save shows them again (the note cleared, the status now
    # saved) and keeps the save's message.
    @app.callback(Output(_id(tab, "form"), "children"), Output(_id(tab, "history"), "children"),
                  Output(_id(tab, "message"), "children"),
                  Input(_id(tab, "target"), "data"), Input(_id(tab, "saved"), "data"), prevent_initial_call=True)
    def show_panel(target, _saved):
        selected = _id(tab, "target") == callback_context.triggered_id
        try:
            return render_form(ctx, tab, target), render_history(ctx, target), None if selected else no_update
        except (MissingTables, SQLAlchemyError):
            log.exception("review panel failed")
            return no_rows("The reviews cannot be read right now; the server log has the details."), None, None

    @app.callback(Output(_id(tab, "message"), "children", allow_duplicate=True), Output(_id(tab, "saved"), "data"),
                  Input(_id(tab, "save"), "n_clicks"), State(_id(tab, "target"), "data"),
                  State(_id(tab, "status"), "value"), State(_id(tab, "assignee"), "value"),
                  State(_id(tab, "note"), "value"), prevent_initial_call=True)
    def save_review(clicks, target, status, assignee, note):
        if not clicks:
            raise PreventUpdate
        return save(ctx, target, status, assignee, note)

    # A saved review shows in the grid at once: the grid asks for its rows again (the selection stays).
    app.clientside_callback(
        """
        function(saved, id) {
            if (saved) {
                window.dash_ag_grid.getApiAsync(id).then(function(api) { api.refreshInfiniteCache(); })
                    .catch(function() {});
            }
            return window.dash_clientside.no_update;
        }
        """,
        Output(_id(tab, "refreshed"), "data"), Input(_id(tab, "saved"), "data"), State(view.id, "id"),
        prevent_initial_call=True,
    )
