"""Callback functions without a browser: each renders from a URL against a realistic export (the real one when
it is beside the checkout, else the sample); the app object serves its pages and assets itself; exposure and
auth are enforced. The real export's own figures are checked apart (skipped without it)."""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from dash import dcc

import settings as settings_mod
import queries as q
from app import create_app, grid, shell, urlstate
from app.context import AppContext
from app.tabs import anomalies, health, ledger, overdrafts, reconciliation, trends
from db.engine import make_engine
from settings import ROOT


def _context(url: str) -> AppContext:
    return AppContext(settings_mod.load(env_file=os.devnull, DATABASE_URL=url), make_engine(url, readonly=True))


@pytest.fixture(scope="module")
def ctx(realistic_db):
    """A realistic export: the real one when it is there, else the sample."""
    return _context(realistic_db)


@pytest.fixture(scope="module")
def real_ctx(corpus_db):
    """The real export (skipped without it), for its own figures."""
    return _context(corpus_db)


def walk(component):
    """Every component and string in a Dash tree."""
    if isinstance(component, (list, tuple)):
        for item in component:
            yield from walk(item)
        return
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            yield from walk(child)
    elif children is not None:
        yield from walk(children)


def text(component) -> str:
    """The words a component shows, separated by single spaces."""
    return " ".join(" ".join(str(c) for c in walk(component) if isinstance(c, (str, int, float))).split())


def figures(component) -> list[dict]:
    return [c.figure for c in walk(component) if isinstance(c, dcc.Graph)]


# --- every section renders with data -------------------------------------------------------------

SECTIONS = [(trends, ("render_kpis", "render_flows", "render_volume", "render_balance")),
            (overdrafts, ("render_summary", "render_timeline")), (reconciliation, ("render_stake", "render_rollforward")),
            (anomalies, ("render_timeline", "render_counts")),
            (health, ("render_ingest", "render_skips", "render_errors", "render_cold", "render_init",
                      "render_duration", "render_memory"))]


@pytest.mark.parametrize("module, names", SECTIONS, ids=[m.__name__.split(".")[-1] for m, _ in SECTIONS])
def test_every_section_renders_with_data(ctx, module, names):
    for name in names:
        out = getattr(module, name)(ctx, "", "/" + module.NAME)
        shown = text(out)
        assert "Could not show" not in shown and "Nothing matches" not in shown, (name, shown[:200])
        if name not in ("render_kpis", "render_summary", "render_stake", "render_rollforward", "render_ingest"):
            assert figures(out) and figures(out)[0]["data"], name


def test_kpis_follow_the_filters_and_never_add_currencies(ctx):
    everything = text(trends.render_kpis(ctx, ""))
    assert all(f"{cur} net balance change" in everything for cur in ("AED", "BHD", "KWD", "QAR", "SAR"))
    bhd = text(trends.render_kpis(ctx, "?cur=BHD&from=2024-01-01&to=2024-01-31"))
    sar = text(trends.render_kpis(ctx, "?cur=SAR&from=2024-01-01&to=2024-01-31"))
    assert "BHD net balance change" in bhd and "SAR" not in bhd and "SAR net balance change" in sar and bhd != sar
    totals = q.flow_totals(ctx.engine, q.Filters.clean("2024-01-01", "2024-01-31", "BHD"))[0]
    assert ctx.money(totals["total_credit"], "BHD") in bhd
    assert re.search(r"\d\.\d{3}\b", bhd) and not re.search(r"\d\.\d{3}\b", sar)  # BHD 3 decimals, SAR 2


def test_balance_history_marks_discrepancies_and_the_zero_line(ctx):
    d = q.discrepancies(ctx.engine, limit=1)[0]
    out = trends.render_balance(ctx, f"?uid={d['user_id']}")
    fig = figures(out)[0]
    assert any(t["name"].startswith("balance ") for t in fig["data"])
    assert any("discrepancy" in t["name"] for t in fig["data"])
    assert any(shape["y0"] == 0 for shape in fig["layout"]["shapes"])
    assert d["user_id"] in text(out)


def test_grid_pages_are_formatted_in_the_currency_precision(ctx):
    response = grid.rows_response(ctx, reconciliation.GRID, {"startRow": 0, "endRow": 20,
                                                               "sortModel": [{"colId": "amount_at_stake",
                                                                              "sort": "desc"}]},
                                   "?kind=out_of_sync", "/reconciliation")
    n = len(q.discrepancies(ctx.engine, kind="out_of_sync"))
    assert response["rowCount"] == n  # exact, however many: "last page" works
    rows = response["rowData"]
    assert len(rows) == min(20, n) and all(r["kind"] == "out_of_sync" for r in rows)
    for r in rows:
        places = ctx.precision[r["currency"]]
        assert re.fullmatch(r"-?[\d,]+\." + r"\d" * places, r["amount_at_stake"]), r
    currencies = {d["currency"] for d in q.discrepancies(ctx.engine, kind="out_of_sync")}
    assert len(currencies) > 1
    for currency in sorted(currencies):
        row = grid.rows_response(ctx, reconciliation.GRID, {"startRow": 0, "endRow": 5},
                                 f"?cur={currency}&kind=out_of_sync", "/reconciliation")["rowData"][0]
        assert row["currency"] == currency


def test_grid_rows_link_ids_to_where_they_lead(ctx):
    search, path = "?cur=BHD&kind=out_of_sync", "/reconciliation"
    request = {"startRow": 0, "endRow": 5, "sortModel": [{"colId": "amount_at_stake", "sort": "desc"}]}
    row = grid.rows_response(ctx, reconciliation.GRID, request, search, path)["rowData"][0]
    origin = "/reconciliation?cur=BHD&issues.sort=-amount_at_stake&kind=out_of_sync"  # the sort the grid shows
    assert row["links"]["user_id"] == [[row["user_id"], urlstate.ledger_href(row["user_id"], origin)]]
    [[shown, href]] = row["links"]["first_transaction_id"]
    assert shown == row["first_transaction_id"] and href.startswith(urlstate.ledger_path(row["user_id"]) + "?")
    assert urlstate.parse(href.partition("?")[2]) == {"back": origin,
                                                      "ledger.transaction_id": f"equals:{shown}"}
    assert row["links"]["discrepancy_id"] == [[row["discrepancy_id"], urlstate.issue_href(row["discrepancy_id"])]]
    # followed, each shows what it names: the ledger row of the transaction, the one issue
    ledger_search = "?" + href.partition("?")[2]
    sort_model, filter_model = grid.from_url(ledger.GRID, urlstate.parse(ledger_search))
    rows = grid.rows_response(ctx, ledger.GRID, {"startRow": 0, "endRow": 20, "filterModel": filter_model},
                              ledger_search, urlstate.ledger_path(row["user_id"]))["rowData"]
    assert [r["transaction_id"] for r in rows] == [shown]
    assert rows[0]["discrepancies"] and any(link[1] == urlstate.issue_href(row["discrepancy_id"])
                                            for link in rows[0]["links"]["discrepancies"])
    issue_search = urlstate.issue_href(row["discrepancy_id"]).partition("?")[2]
    _, issue_filter = grid.from_url(reconciliation.GRID, urlstate.parse(issue_search))
    found = grid.rows_response(ctx, reconciliation.GRID, {"startRow": 0, "endRow": 20, "filterModel": issue_filter},
                               "?" + issue_search, path)
    assert found["rowCount"] == 1 and found["rowData"][0]["discrepancy_id"] == row["discrepancy_id"]


def test_an_empty_grid_says_what_is_empty_and_why(ctx, tmp_path):
    model = {"user_id": {"filterType": "text", "type": "contains", "filter": "no-such-user"}}
    said = grid.empty_message(ctx, reconciliation.GRID, "?cur=BHD&kind=out_of_sync", "/reconciliation", model)
    total = len(q.discrepancies(ctx.engine))
    assert said == ("No issues match these filters: currency BHD; kind out of sync; column User contains "
                    f"“no-such-user”. Without them there are {total:,}.")
    # a table the global filters do not apply to names only its own; with nothing filtering it, says why
    assert grid.empty_message(ctx, health.QUARANTINE_GRID, "?cur=BHD", "/health", None) == \
        "No quarantined blocks: every log block was parsed."
    assert "user id contains" not in grid.empty_message(ctx, overdrafts.USERS_GRID, "?from=2024-01-01&user=zz§",
                                                        "/overdrafts", None).replace("user id contains “zz§”", "")
    # the grid's callback sends the sentence with an empty answer, nothing with rows
    app = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=ctx.settings.database_url), warm=False)
    client = app.server.test_client()

    def ask(search, filter_model):
        ident = reconciliation.GRID.id
        body = {"output": next(k for k in app.callback_map if "getRowsResponse" in k),
                "outputs": [{"id": ident, "property": "getRowsResponse"},
                            {"id": reconciliation.GRID.part_id("state"), "property": "data"},
                            {"id": reconciliation.GRID.part_id("empty"), "property": "children"}],
                "inputs": [{"id": ident, "property": "getRowsRequest",
                            "value": {"startRow": 0, "endRow": 20, "filterModel": filter_model}}],
                "state": [{"id": "url", "property": "search", "value": search},
                          {"id": "url", "property": "pathname", "value": "/reconciliation"}],
                "changedPropIds": []}
        return client.post("/_dash-update-component", json=body).get_json()["response"]

    empty = ask("?cur=BHD", model)
    assert empty[json_key(reconciliation.GRID.id)]["getRowsResponse"] == {"rowData": [], "rowCount": 0}
    assert empty[json_key(reconciliation.GRID.part_id("empty"))]["children"].startswith("No issues match")
    assert empty[json_key(reconciliation.GRID.part_id("state"))]["data"] == {
        "prefix": "issues.", "params": {"issues.user_id": "contains:no-such-user"}}
    full = ask("?cur=BHD", None)
    assert full[json_key(reconciliation.GRID.part_id("empty"))]["children"] is None
    assert full[json_key(reconciliation.GRID.id)]["getRowsResponse"]["rowCount"] == \
        len(q.discrepancies(ctx.engine, q.Filters(currency="BHD")))


def json_key(ident: dict) -> str:
    import json
    return json.dumps(ident, sort_keys=True, separators=(",", ":"))


def test_the_ledger_returns_to_where_it_was_opened(ctx):
    user = q.discrepancies(ctx.engine, limit=1)[0]["user_id"]
    origin = "/overdrafts?cur=BHD&reason=wallet&events.sort=amount"
    page = ledger.layout(ctx, user, urlstate.parse(urlstate.ledger_href(user, origin).partition("?")[2]))
    back = next(c for c in walk(page) if getattr(c, "id", None) == "ledger-back")
    assert (back.children, back.href) == ("← Overdraft Detection", origin)
    for params in ({}, {"back": "https://evil.example/"}, {"back": "/nope?x=1"}):
        back = next(c for c in walk(ledger.layout(ctx, user, {"cur": "SAR", **params}))
                    if getattr(c, "id", None) == "ledger-back")
        assert (back.children, back.href) == ("← Transaction Trends", "/trends?cur=SAR")
    narrowed = ledger.layout(ctx, user, {"cur": "SAR", "ledger.transaction_id": "equals:01H"})
    show_all = next(c for c in walk(narrowed) if getattr(c, "id", None) == "ledger-show-all")
    assert show_all.href == urlstate.ledger_path(user) + "?cur=SAR"


def test_the_balance_chart_takes_part_of_an_id_and_an_empty_period_picks_nobody(ctx):
    busiest = q.find_users(ctx.engine, None, limit=1)[0]["user_id"]
    whole = text(trends.render_balance(ctx, f"?uid={busiest}", "/trends"))
    assert f"Showing {busiest}" in whole
    part = busiest[4:12].upper()
    shown = text(trends.render_balance(ctx, f"?uid={part}", "/trends"))
    assert f"Busiest user whose id contains “{part}”: {busiest}" in shown
    nothing = text(trends.render_balance(ctx, "?from=1999-01-01&to=1999-01-31", "/trends"))
    assert nothing == "No transactions in this period: no user to show."
    nobody = text(trends.render_balance(ctx, "?uid=zzz-no-one", "/trends"))
    assert nobody == "No user whose id contains “zzz-no-one” has transactions in this period."


def test_net_change_cards_add_up_from_what_they_show(ctx):
    shown = text(trends.render_kpis(ctx, ""))
    for t in q.flow_totals(ctx.engine, q.Filters()):
        cur = t["currency"]
        figures = [t["total_credit"], t["vat_credit"], t["total_debit"], t["vat_debit"]]
        assert figures[0] - figures[1] - figures[2] + figures[3] == t["net_change"]
        lines = " ".join(f"{label} {ctx.money(v, cur)}" for label, v in
                         zip(("credits", "− VAT on credits", "− debits", "+ VAT on debits"), figures))
        assert f"{lines} = net change {ctx.money(t['net_change'], cur)}" in shown, cur
    assert shown.count("credits − debits, net of VAT") == len(q.flow_totals(ctx.engine, q.Filters()))


def test_overdrafts_explain_each_reason_and_count_users_in_words(ctx):
    legend = text(overdrafts.reason_legend())
    for reason in q.OVERDRAFT_REASONS:
        assert f"{reason} {overdrafts.REASON_MEANINGS[reason]}" in legend
    assert overdrafts.users(1) == "1 user" and overdrafts.users(2) == "2 users"
    assert "over 1 users" not in text(overdrafts.render_summary(ctx, ""))


def test_every_detector_is_told_apart_and_every_detector_of_a_day_shows(ctx):
    from vocabulary import DETECTORS
    assert len({anomalies.detector_style(d) for d in DETECTORS}) == len(DETECTORS)
    assert len({anomalies.detector_style(d)[0] for d in DETECTORS}) == len(DETECTORS)  # a colour each
    fig = figures(anomalies.render_timeline(ctx, ""))[0]
    found = q.anomalies_per_day(ctx.engine)
    drawn = {(day, t["name"]) for t in fig["data"] if t.get("yaxis") == "y2" for day in t["x"]}
    assert drawn == {(r["business_date"], r["detector"]) for r in found}
    assert any(sum(1 for d, _ in drawn if d == day) > 1 for day, _ in drawn)  # days with several detectors
    counts = figures(anomalies.render_counts(ctx, ""))[0]
    labels = next(t for t in counts["data"] if t.get("mode") == "text")
    totals = Counter()
    for r in q.anomaly_counts(ctx.engine):
        totals[r["detector"]] += r["count_anomalies"]
    assert labels["y"] == sorted(totals, key=lambda d: (-totals[d], d))  # most findings first
    assert [t.strip() for t in labels["text"]] == [f"{totals[d]:,}" for d in labels["y"]]


def test_health_charts_share_one_time_axis_that_starts_at_zero(ctx):
    first, last = q.data_period(ctx.engine)
    start = str(date.fromisoformat(first) + timedelta(days=3))
    charts = [f for name in ("render_skips", "render_errors", "render_cold", "render_init", "render_duration",
                             "render_memory")
              for f in figures(getattr(health, name)(ctx, f"?from={start}&to={last}", "/health"))]
    assert len(charts) >= 5  # a period without errors shows a sentence instead of their chart
    assert {tuple(f["layout"]["xaxis"]["range"]) for f in charts} == {
        (str(date.fromisoformat(start) - timedelta(days=1)) + " 12:00", last + " 12:00")}
    assert all(f["layout"]["yaxis"]["rangemode"] == "nonnegative" for f in charts)
    assert not any("yaxis2" in f["layout"] for f in charts)  # one axis each: no second scale's odd ticks
    counts = [figures(health.render_errors(ctx, "", "/health"))[0]["layout"]["yaxis"],
              figures(overdrafts.render_timeline(ctx, ""))[0]["layout"]["yaxis"],
              figures(anomalies.render_counts(ctx, ""))[0]["layout"]["xaxis"]]
    assert all(axis["tickformat"] == ",d" for axis in counts)  # whole numbers, never 0.2, 0.4, …
    errors = q.errors_per_day(ctx.engine, q.Filters())
    per_day = Counter()
    for r in errors:
        per_day[r["business_date"]] += r["count_events"]
    assert counts[0].get("dtick") == (1 if max(per_day.values()) <= 5 else None)
    whole = figures(health.render_skips(ctx, "", "/health"))[0]["layout"]["xaxis"]["range"]
    assert whole[0].startswith(str(date.fromisoformat(first) - timedelta(days=1))) and whole[1].startswith(last)


def test_the_exposure_cards_show_each_currencys_open_gaps_once(ctx):
    shown = text(reconciliation.render_stake(ctx, "", "/reconciliation"))
    for e in q.exposure(ctx.engine):
        assert f"{e.currency} open exposure" in shown and ctx.money(e.exposure, e.currency) in shown
        assert f"{e.count_open:,} open episode" in shown
    assert "Age since first seen" in shown and "over 90 days" in shown
    later = text(reconciliation.render_stake(ctx, "?as_of=2030-01-01", "/reconciliation"))
    assert "as of 2030-01-01" in later
    roll = text(reconciliation.render_rollforward(ctx, "?cur=BHD", "/reconciliation"))
    last = q.rollforward(ctx.engine, "BHD")[-1]
    assert last["month"] in roll and ctx.money(last["closing_balance"], "BHD") in roll and "SAR" not in roll


def test_the_ledger_grid_reads_the_user_from_the_path(ctx):
    user = q.discrepancies(ctx.engine, limit=1)[0]["user_id"]
    response = grid.rows_response(ctx, ledger.GRID, {"startRow": 0, "endRow": 500}, "", f"/ledger/{user}")
    assert response["rowCount"] == len(q.user_ledger(ctx.engine, user)) == len(response["rowData"])
    assert any(r["discrepancies"] for r in response["rowData"])
    assert all(r["file"].endswith("000000.gz") and r["line_no"] for r in response["rowData"])
    assert "balance now" in text(ledger.render_summary(ctx, "", f"/ledger/{user}"))
    assert figures(ledger.render_balance(ctx, "", f"/ledger/{user}"))
    assert "No transaction" in text(ledger.render_summary(ctx, "", "/ledger/nobody-at-all"))


def test_export_csv_holds_the_whole_filtered_result(ctx, realistic_dir):
    search = "?cur=BHD&from=2024-01-01&to=2024-03-31&kind=out_of_sync"
    name, body, n = reconciliation.export_csv(ctx, search)
    assert name == "discrepancies_out-of-sync_open-and-resolved_BHD_2024-01-01_to_2024-03-31.csv"
    rows = list(csv.DictReader(io.StringIO(body)))
    expected = q.discrepancies(ctx.engine, q.Filters.clean("2024-01-01", "2024-03-31", "BHD"), kind="out_of_sync")
    assert n == len(rows) == len(expected) > 0  # one row per issue: the whole result
    assert [r["discrepancy_id"] for r in rows] == [e["discrepancy_id"] for e in expected]
    assert len({r["discrepancy_id"] for r in rows}) == n
    for r, e in zip(rows, expected):
        assert Decimal(r["amount_at_stake"]) == ctx.exact(e["amount_at_stake"], "BHD")
        assert len(r["amount_at_stake"].split(".")[1]) == 3
        assert not r["explanation"].startswith(("=", "+", "@"))
        # the file below the folder that was ingested, not the server's absolute path
        assert not os.path.isabs(r["file"]) and (realistic_dir / r["file"]).is_file(), r["file"]
    # the grid's own sort and column filters go into the link, as the page's URL has them, and apply to the export
    href = reconciliation.export_href(search, {"sortModel": [{"colId": "amount_at_stake", "sort": "desc"}],
                                               "filterModel": {"status": {"filterType": "text", "type": "equals",
                                                                          "filter": "open"}}})
    assert href == ("/export/discrepancies.csv?from=2024-01-01&to=2024-03-31&cur=BHD"
                    "&issues.sort=-amount_at_stake&issues.status=equals:open&kind=out_of_sync")
    _, body, n = reconciliation.export_csv(ctx, href.split("?", 1)[1])
    got = list(csv.DictReader(io.StringIO(body)))
    assert 0 < n == len(got) == sum(e["status"] == "open" for e in expected) and all(r["status"] == "open" for r in got)
    stakes = [Decimal(r["amount_at_stake"]) for r in got]
    assert stakes == sorted(stakes, reverse=True)


def test_the_transactions_export_lists_every_transaction_behind_the_filtered_issues(ctx):
    search = "?cur=BHD&kind=out_of_sync&status=open"
    name, body, n = reconciliation.export_csv(ctx, search, reconciliation.TRANSACTIONS_PATH)
    assert name == "discrepancy-transactions_out-of-sync_open_BHD_start_to_end.csv"
    rows = list(csv.DictReader(io.StringIO(body)))
    issues = q.discrepancies(ctx.engine, q.Filters(currency="BHD"), kind="out_of_sync", status="open")
    assert {r["discrepancy_id"] for r in rows} == {i["discrepancy_id"] for i in issues}
    # open episodes have no resolving transaction: each issue's rows are its count_transactions
    per_issue = Counter(r["discrepancy_id"] for r in rows)
    assert all(per_issue[i["discrepancy_id"]] == i["count_transactions"] for i in issues)
    assert n == sum(i["count_transactions"] for i in issues) and all(r["role"] == "out_of_sync" for r in rows)
    last = {r["discrepancy_id"]: r for r in rows}  # in position order: the last row of each is its latest
    assert all(Decimal(last[i["discrepancy_id"]]["gap"] or "0") == ctx.exact(i["current_gap"] or 0, "BHD")
               for i in issues)


def test_the_real_exports_csv_holds_more_than_a_page_and_its_column_filters_narrow_it(real_ctx):
    search = "?cur=BHD&from=2023-12-01&to=2024-05-31"
    _, _, n = reconciliation.export_csv(real_ctx, search)
    assert n > 200  # every issue of the period, one row each
    href = reconciliation.export_href(search, {"filterModel": {"status": {"filterType": "text", "type": "equals",
                                                                          "filter": "open"}}})
    assert 0 < reconciliation.export_csv(real_ctx, href.split("?", 1)[1])[2] < n


def test_the_real_exports_qar_episode_shows_in_its_currency(real_ctx):
    """QAR has one out-of-sync user (a 4,800.00 gap): one open episode, not one row per day."""
    rows = grid.rows_response(real_ctx, reconciliation.GRID, {"startRow": 0, "endRow": 5},
                              "?cur=QAR&kind=out_of_sync&status=open", "/reconciliation")["rowData"]
    assert [(r["currency"], r["amount_at_stake"]) for r in rows] == [("QAR", "4,800.00")]


def test_the_export_link_streams_the_csv(realistic_db, tmp_path):
    app = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db), warm=False)
    response = app.server.test_client().get("/export/discrepancies.csv?cur=SAR&status=open")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="discrepancies_all-kinds_open_SAR_start_to_end.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    engine = make_engine(realistic_db, readonly=True)
    assert len(rows) == len(q.discrepancies(engine, q.Filters(currency="SAR"), status="open")) > 0
    empty = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}"),
                       warm=False)
    missing = empty.server.test_client().get("/export/discrepancies.csv")
    assert missing.status_code == 404 and "Run the ingest" in missing.get_data(as_text=True)


def test_the_router_renders_pages_and_the_empty_state(ctx, tmp_path):
    page, fresh, options, start, end, cur, user = shell.render_route(ctx, "/reconciliation", "?cur=SAR&user=ab")
    assert (start, end, cur, user) == ("", "", "SAR", "ab")
    assert [o["value"] for o in options] == ["any", *q.currencies(ctx.engine)]
    data = q.freshness(ctx.engine)
    assert f"{data.count_files:,}" in text(fresh) and f"{data.first_date} → {data.last_date}" in text(fresh)
    assert "no page" in text(shell.render_route(ctx, "/nope", "")[0])
    empty = AppContext(settings_mod.load(env_file=os.devnull, DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}"),
                       make_engine(f"sqlite:///{tmp_path / 'none.db'}", readonly=True))
    page = text(shell.render_route(empty, "/trends", "")[0])
    assert "No data yet" in page and "python ingest.py" in page and "Traceback" not in page
    assert not (tmp_path / "none.db").exists()


def test_the_router_shows_the_real_exports_currencies_files_and_dates(real_ctx):
    _, fresh, options, *_ = shell.render_route(real_ctx, "/reconciliation", "?cur=SAR&user=ab")
    assert [o["value"] for o in options] == ["any", "AED", "BHD", "KWD", "QAR", "SAR"]
    assert "1,672" in text(fresh) and "2023-12-12 → 2024-05-24" in text(fresh)


# --- the app object ------------------------------------------------------------------------------

def test_the_app_serves_everything_itself(realistic_db):
    app = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db), warm=False)
    client = app.server.test_client()
    index = client.get("/reconciliation?cur=BHD")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and not [r for r in refs if r.startswith(("http:", "https:", "//"))]
    for ref in refs:
        assert client.get(ref).status_code == 200, ref
    assert any("bootstrap" in r for r in refs)
    assert client.get("/_dash-layout").status_code == 200


def test_basic_auth_guards_every_request_when_users_are_set(realistic_db):
    app = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db, DASH_AUTH_USERS="ana:s3cret"),
                     warm=False)
    client = app.server.test_client()
    for path in ("/", "/_dash-layout", "/assets/app.css", "/export/discrepancies.csv"):
        denied = client.get(path)
        assert denied.status_code == 401 and "Basic" in denied.headers["WWW-Authenticate"]
    assert client.get("/", auth=("ana", "wrong")).status_code == 401
    assert client.get("/", auth=("ana", "s3cret")).status_code == 200


def _run_app(*args, **env):
    environ = {k: v for k, v in os.environ.items() if k != "DASH_AUTH_USERS"}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args", [("--host", "0.0.0.0"), ("--host", "192.168.1.10", "--port", "8099")])
def test_serving_exposed_without_auth_is_refused(args, tmp_path):
    done = _run_app(*args, "--env-file", os.devnull, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "DASH_AUTH_USERS" in done.stderr and "Traceback" not in done.stderr


def test_gunicorn_config_refuses_exposed_binds(monkeypatch):
    import importlib
    monkeypatch.delenv("DASH_AUTH_USERS", raising=False)
    conf = importlib.import_module("app.gunicorn_conf")

    class Server:
        class cfg:
            bind = ["0.0.0.0:8050"]
    with pytest.raises(SystemExit) as exc:
        conf.on_starting(Server)
    assert exc.value.code == 2
    Server.cfg.bind = ["127.0.0.1:8050"]
    conf.on_starting(Server)


def test_the_export_can_be_pseudonymised_for_sharing(realistic_db):
    """With PSEUDONYMISE_KEY, ?pseudonymise=1 replaces every user id (also inside explanations) by its keyed hash."""
    from queries.pseudonym import pseudonymise
    url = "/export/discrepancies.csv?cur=SAR&status=open"
    keyed = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db, PSEUDONYMISE_KEY="k1"),
                       warm=False).server.test_client()
    plain = list(csv.DictReader(io.StringIO(keyed.get(url).get_data(as_text=True))))
    response = keyed.get(url + "&pseudonymise=1")
    assert response.headers["Content-Disposition"].endswith('_pseudonymised.csv"')
    body = response.get_data(as_text=True)
    hidden = list(csv.DictReader(io.StringIO(body)))
    assert [r["discrepancy_id"] for r in hidden] == [r["discrepancy_id"] for r in plain]
    for p, h in zip(plain, hidden):
        assert h["user_id"] == pseudonymise(p["user_id"], "k1") and p["user_id"] not in body
        assert h["amount_at_stake"] == p["amount_at_stake"]
    no_key = create_app(settings_mod.load(env_file=os.devnull, DATABASE_URL=realistic_db, PSEUDONYMISE_KEY=""),
                        warm=False).server.test_client().get(url + "&pseudonymise=1")
    assert no_key.status_code == 400 and "PSEUDONYMISE_KEY" in no_key.get_data(as_text=True)
