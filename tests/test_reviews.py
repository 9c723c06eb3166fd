"""Reviews (queries/reviews.py, app/review.py): recorded with their history on SQLite and PostgreSQL, shown beside
the rows, filtered, exported, kept through rebuilds and full refreshes, refused on a read-only dashboard (also
when the save callback is posted to without the page), and both entries of two reviewers saving at once kept."""
from __future__ import annotations

import csv
import getpass
import io
import os
import threading
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

import queries as q
import reports
import settings as settings_mod
from app import create_app, review
from app.context import AppContext
from app.tabs import reconciliation
from db import schema as s
from db.engine import make_engine
from pipeline import run
from queries.pseudonym import pseudonymise
from queries.reviews import (ReviewRefused, latest_review, latest_reviews, orphaned_reviews, record_review,
                             review_history)
from reports.columns import COLUMNS as REPORT_COLUMNS
from transform import build_all
from vocabulary import REVIEW_STATUSES

SAVE = "reconciliation-review-save"


@pytest.fixture(scope="session")
def small_export(tmp_path_factory) -> Path:
    from sample import generate
    out = tmp_path_factory.mktemp("reviews-a")
    generate(out, days=4, users=40, seed=7)
    return out


@pytest.fixture(scope="session")
def other_export(tmp_path_factory) -> Path:
    """Another export of the same days: its transactions (and so most of its findings) are different ones."""
    from sample import generate
    out = tmp_path_factory.mktemp("reviews-b")
    generate(out, days=4, users=40, seed=8)
    return out


def _settings(url: str, **overrides) -> settings_mod.Settings:
    return settings_mod.load(env_file=os.devnull, DATABASE_URL=url, **overrides)


@pytest.fixture
def db(database_url, small_export):
    """A fresh database (SQLite, then PostgreSQL) with the small export ingested and built."""
    run([str(small_export)], _settings(database_url))
    return database_url


def _ids(engine) -> tuple[str, dict]:
    """(a discrepancy id as text, an anomaly tied to a transaction) of the database."""
    anomaly = next(a for a in q.anomaly_findings(engine) if a["transaction_id"])
    return str(q.discrepancies(engine)[0]["discrepancy_id"]), anomaly


def _all_reviews(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(s.reviews).order_by(s.reviews.c.review_id))]


# --- recording and reading ---------------------------------------------------------------------

def test_a_review_is_recorded_with_its_history_and_shows_beside_the_rows(db):
    engine, settings = make_engine(db), _settings(db)
    did, anomaly = _ids(engine)
    first = record_review(engine, settings, "discrepancy", did, "investigating", reviewer="ana", assignee=" bob ",
                          note="called the customer")
    second = record_review(engine, settings, "discrepancy", did, "explained", reviewer="cy", assignee="bob")
    assert (first["previous_status"], second["previous_status"]) == (None, "investigating")
    assert first["assignee"] == "bob" and second["note"] is None and second["review_id"] > first["review_id"]
    assert first["reviewed_at"].endswith("Z") and len(first["reviewed_at"]) == 24
    history = review_history(engine, "discrepancy", did)
    assert [h["status"] for h in history] == ["explained", "investigating"]
    assert [h["reviewer"] for h in history] == ["cy", "ana"]
    assert latest_review(engine, "discrepancy", did) == history[0]
    row = next(r for r in q.discrepancies(engine) if str(r["discrepancy_id"]) == did)
    assert history[0]["user_id"] == row["user_id"]
    assert (row["review_status"], row["assignee"], row["reviewed_by"]) == ("explained", "bob", "cy")
    assert row["reviewed_at"] == second["reviewed_at"]

    record_review(engine, settings, "anomaly", anomaly["fingerprint"], "false_positive", reviewer="ana",
                  note="a test account")
    found = next(a for a in q.anomaly_findings(engine) if a["fingerprint"] == anomaly["fingerprint"])
    assert (found["review_status"], found["review_note"]) == ("false_positive", "a test account")
    assert {(r["target_type"], r["status"]) for r in latest_reviews(engine)} == {("discrepancy", "explained"),
                                                                                 ("anomaly", "false_positive")}


def test_the_review_filter_selects_exactly_the_rows_with_that_latest_status(db):
    engine, settings = make_engine(db), _settings(db)
    everything = q.discrepancies(engine)
    reviewed = [str(r["discrepancy_id"]) for r in everything[:3]]
    for did, status in zip(reviewed, ("investigating", "explained", "written_off")):
        record_review(engine, settings, "discrepancy", did, "investigating", reviewer="ana")
        record_review(engine, settings, "discrepancy", did, status, reviewer="ana")
    by_status = {status: [str(r["discrepancy_id"]) for r in q.discrepancies(engine, review=status)]
                 for status in REVIEW_STATUSES}
    assert by_status["investigating"] == reviewed[:1]
    assert by_status["explained"] == reviewed[1:2] and by_status["written_off"] == reviewed[2:]
    assert by_status["false_positive"] == []
    assert sorted(by_status["new"]) == sorted(str(r["discrepancy_id"]) for r in everything[3:])
    assert len(q.discrepancies(engine, review="nonsense")) == len(everything)  # an unknown value filters nothing
    page, total = q.page(engine, q.DISCREPANCIES, q.Filters(), review="explained")
    assert total == 1 and str(page[0]["discrepancy_id"]) == reviewed[1]
    grid_filter = {"review_status": {"filterType": "text", "type": "equals", "filter": "written_off"}}
    assert [str(r["discrepancy_id"]) for r in q.discrepancies(engine, filter_model=grid_filter)] == reviewed[2:]


def test_what_cannot_be_recorded_is_refused_in_one_line(db):
    engine, settings = make_engine(db), _settings(db)
    did, anomaly = _ids(engine)
    refusals = {
        "unknown review status 'done'": dict(target_type="discrepancy", target_id=did, status="done"),
        "unknown review target 'user'": dict(target_type="user", target_id=did, status="new"),
        "there is no discrepancy no-such-id": dict(target_type="discrepancy", target_id="no-such-id", status="new"),
        "there is no anomaly " + did: dict(target_type="anomaly", target_id=did, status="new"),
        "needs the id": dict(target_type="discrepancy", target_id="  ", status="new"),
    }
    for message, args in refusals.items():
        with pytest.raises(ReviewRefused, match=message) as exc:
            record_review(engine, settings, reviewer="ana", **args)
        assert "\n" not in str(exc.value)
    for extra, message in ((dict(reviewer=""), "reviewer name"), (dict(reviewer="a", assignee="b" * 65), "assignee"),
                           (dict(reviewer="a", note="n" * 4001), "note")):
        with pytest.raises(ReviewRefused, match=message):
            record_review(engine, settings, "anomaly", anomaly["fingerprint"], "new", **extra)
    assert _all_reviews(engine) == []


def test_a_read_only_dashboard_refuses_every_write(db):
    engine = make_engine(db)
    did, _ = _ids(engine)
    with pytest.raises(ReviewRefused, match=r"read-only \(DASH_READ_ONLY=true\)"):
        record_review(engine, _settings(db, DASH_READ_ONLY="true"), "discrepancy", did, "explained", reviewer="ana")
    assert _all_reviews(engine) == []
    with pytest.raises(settings_mod.SettingsError, match="DASH_READ_ONLY"):
        _settings(db, DASH_READ_ONLY="maybe")


def test_two_reviewers_saving_at_once_both_keep_their_entries(db):
    """Two dashboard processes (one engine each) write the same target at the same moment, ten times each."""
    did, _ = _ids(make_engine(db))
    settings = _settings(db)
    start, errors = threading.Barrier(2), []

    def reviewer(name: str, status: str):
        engine = make_engine(db)
        try:
            start.wait(timeout=30)
            for n in range(10):
                record_review(engine, settings, "discrepancy", did, status, reviewer=name, note=f"{name} {n}")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=reviewer, args=("ana", "investigating")),
               threading.Thread(target=reviewer, args=("bob", "explained"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    history = review_history(make_engine(db), "discrepancy", did)
    assert len(history) == 20 and len({h["review_id"] for h in history}) == 20
    for name in ("ana", "bob"):
        notes = [h["note"] for h in reversed(history) if h["reviewer"] == name]
        assert notes == [f"{name} {n}" for n in range(10)]  # each reviewer's entries, in the order written
    assert latest_review(make_engine(db), "discrepancy", did)["review_id"] == max(h["review_id"] for h in history)


# --- rebuilds, full refreshes and orphans ---------------------------------------------------------------

def test_reviews_survive_rebuilds_and_full_refreshes_and_lost_targets_are_orphaned(db, small_export, other_export):
    engine, settings = make_engine(db), _settings(db)
    did, anomaly = _ids(engine)
    record_review(engine, settings, "discrepancy", did, "investigating", reviewer="ana")
    record_review(engine, settings, "anomaly", anomaly["fingerprint"], "investigating", reviewer="ana")
    record_review(engine, settings, "anomaly", anomaly["fingerprint"], "explained", reviewer="bob", note="known")
    kept = _all_reviews(engine)
    assert len(kept) == 3

    build_all(engine, settings)  # python -m transform
    run([str(small_export)], settings, full_refresh=True)  # ingest.py --full-refresh: the same logs again
    assert _all_reviews(engine) == kept
    assert orphaned_reviews(engine) == []
    again = next(a for a in q.anomaly_findings(engine) if a["fingerprint"] == anomaly["fingerprint"])
    assert again["review_status"] == "explained"

    run([str(other_export)], settings, full_refresh=True)  # other logs: the reviewed finding is gone
    assert _all_reviews(engine) == kept
    with engine.connect() as conn:
        discrepancies_now = {str(i) for i in conn.execute(select(q.base.discrepancy_report.c.discrepancy_id)).scalars()}
        fingerprints_now = set(conn.execute(select(q.base.anomalies.c.fingerprint)).scalars())
    assert anomaly["fingerprint"] not in fingerprints_now
    gone = {("anomaly", anomaly["fingerprint"])} | ({("discrepancy", did)} if did not in discrepancies_now else set())
    orphans = orphaned_reviews(engine)
    assert {(o["target_type"], o["target_id"]) for o in orphans} == gone
    lost = next(o for o in orphans if o["target_type"] == "anomaly")
    assert (lost["status"], lost["reviewer"], lost["note"], lost["count_reviews"]) == ("explained", "bob", "known", 2)
    assert lost["user_id"] == anomaly["user_id"]  # whose finding it was, though the finding is gone
    assert len(review_history(engine, "anomaly", anomaly["fingerprint"])) == 2


# --- the CSV export and the workbook --------------------------------------------------------------------

def test_the_latest_review_goes_into_the_csv_export_and_the_workbook(db, tmp_path):
    engine, settings = make_engine(db), _settings(db, PSEUDONYMISE_KEY="k1")
    did, anomaly = _ids(engine)
    user = next(r["user_id"] for r in q.discrepancies(engine) if str(r["discrepancy_id"]) == did)
    record_review(engine, settings, "discrepancy", did, "investigating", reviewer="ana")
    record_review(engine, settings, "discrepancy", did, "written_off", reviewer="bob", assignee="cy",
                  note=f"=refund {user} by hand")
    record_review(engine, settings, "anomaly", anomaly["fingerprint"], "false_positive", reviewer="ana")
    ctx = AppContext(settings, make_engine(db, readonly=True))

    name, text, count = reconciliation.export_csv(ctx, "?review=written_off")
    assert name == "discrepancies_all-kinds_open-and-resolved_all-currencies_start_to_end_review-written-off.csv"
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert count == 1 and row["discrepancy_id"] == did
    assert (row["review_status"], row["assignee"], row["reviewed_by"]) == ("written_off", "cy", "bob")
    assert row["review_note"] == f"'=refund {user} by hand"  # a formula neutralised
    _, rows = reconciliation.export_rows(ctx, "?review=written_off&pseudonymise=1")[1:]
    [hidden] = list(rows)
    assert user not in str(hidden) and pseudonymise(user, "k1") in str(hidden)

    [path] = reports.build("excel", engine, settings, tmp_path / "out")
    wb = openpyxl.load_workbook(path, read_only=True)
    for sheet, key, value, status in (("Reconciliation", "discrepancy_id", did, "written_off"),
                                      ("Anomalies", "fingerprint", anomaly["fingerprint"], "false_positive")):
        rows = list(wb[sheet].iter_rows(values_only=True))
        header = [FIELD_OF_LABEL[label] for label in rows[0]]  # the workbook heads columns in words
        assert {"review_status", "assignee", "reviewed_by", "reviewed_at", "review_note"} <= set(header)
        statuses = {str(r[header.index(key)]): r[header.index("review_status")] for r in rows[1:]}
        assert statuses[value] == status
        assert set(statuses.values()) == {"new", status}


FIELD_OF_LABEL = {c.label: c.name for c in REPORT_COLUMNS.values()}


# --- the dashboard: the save callback, posted to without the page ---------------------------------------

def _post_save(client, target: dict, status: str, **kwargs) -> str:
    """POST the save callback as the browser would (or anyone else could); returns the message shown."""
    deps = client.get("/_dash-dependencies", **kwargs).get_json()
    [callback] = [d for d in deps if any(i["id"] == SAVE for i in d["inputs"])]
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
               for o in callback["output"].strip(".").split("...")]
    values = {"reconciliation-review-target": target, "reconciliation-review-status": status,
              "reconciliation-review-assignee": "bob", "reconciliation-review-note": "posted"}
    payload = {"output": callback["output"], "outputs": outputs,
               "inputs": [{"id": SAVE, "property": "n_clicks", "value": 1}], "changedPropIds": [f"{SAVE}.n_clicks"],
               "state": [dict(st, value=values[st["id"]]) for st in callback["state"]]}
    response = client.post("/_dash-update-component", json=payload, **kwargs)
    assert response.status_code == 200
    message = response.get_json()["response"]["reconciliation-review-message"]["children"]
    return message["props"]["children"]


def test_a_read_only_dashboard_refuses_a_posted_save_and_shows_no_controls(db):
    engine = make_engine(db)
    did, _ = _ids(engine)
    target = {"type": "discrepancy", "id": did}
    settings = _settings(db, DASH_READ_ONLY="true")
    client = create_app(settings, warm=False).server.test_client()
    assert _post_save(client, target, "explained") == \
        "Not saved: this dashboard is read-only (DASH_READ_ONLY=true): reviews are not saved"
    assert _all_reviews(engine) == []
    ctx = AppContext(settings, make_engine(db, readonly=True))
    form = str(review.render_form(ctx, "reconciliation", target))
    assert "read-only" in form and SAVE not in form and "reconciliation-review-status" not in form
    writable = str(review.render_form(AppContext(_settings(db), ctx.engine), "reconciliation", target))
    assert SAVE in writable and "reconciliation-review-status" in writable


def test_the_reviewer_is_the_signed_in_user_never_a_name_the_browser_sends(db):
    engine = make_engine(db)
    did, _ = _ids(engine)
    target = {"type": "discrepancy", "id": did}
    signed_in = create_app(_settings(db, DASH_AUTH_USERS="ana:s3cret", REVIEWER_NAME="cy"), warm=False)
    assert _post_save(signed_in.server.test_client(), target, "investigating",
                      auth=("ana", "s3cret")).startswith("Saved: new → investigating by ana")
    loopback = create_app(_settings(db, REVIEWER_NAME="cy"), warm=False).server.test_client()
    assert _post_save(loopback, target, "explained", auth=("mallory", "x")).endswith("by cy")
    unnamed = create_app(_settings(db, REVIEWER_NAME=""), warm=False).server.test_client()
    assert _post_save(unnamed, target, "explained").endswith(f"by {getpass.getuser()}")
    assert [h["reviewer"] for h in review_history(engine, "discrepancy", did)] == [getpass.getuser(), "cy", "ana"]
    assert _post_save(loopback, target, "closed").startswith("Not saved: unknown review status 'closed'")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.reviews)).scalar_one() == 3


# --- when the database does not take the write ------------------------------------------------------------

def test_a_save_while_a_writer_holds_the_sqlite_database_asks_to_try_again(tmp_path, small_export):
    import sqlite3

    from sqlalchemy import event
    path = tmp_path / "busy.db"
    url = f"sqlite:///{path}"
    run([str(small_export)], _settings(url))
    engine = make_engine(url)
    event.listen(engine, "connect", lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA busy_timeout = 200"))
    did, _ = _ids(engine)
    holder = sqlite3.connect(path)  # as a transform build does for its whole transaction
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ReviewRefused, match=r"^the database is busy \(an ingest or a rebuild is writing\)"):
            record_review(engine, _settings(url), "discrepancy", did, "explained", reviewer="ana")
    finally:
        holder.rollback()
        holder.close()
    assert record_review(engine, _settings(url), "discrepancy", did, "explained", reviewer="ana")["review_id"] == 1


@pytest.mark.postgres
def test_a_dashboard_role_without_insert_is_refused_in_one_line_until_granted(pg_server, small_export):
    """docs/deployment.md: a dashboard role that may only read cannot save, and the two grants it names suffice."""
    from sqlalchemy.engine import make_url

    from tests import pg
    with pg.throwaway_database(pg_server) as url:
        run([str(small_export)], _settings(url))
        owner = make_engine(url)
        role = "dashboard_ro_" + "".join(c if c.isalnum() else "_" for c in make_url(url).database)
        with owner.begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        did, _ = _ids(owner)
        target = {"type": "discrepancy", "id": did}
        dashboard_url = url.replace(f"{pg.SERVICE_USER}@", f"{role}@", 1)
        client = create_app(_settings(dashboard_url, REVIEWER_NAME="ana"), warm=False).server.test_client()
        refused = _post_save(client, target, "explained")
        assert refused.startswith("Not saved: the database refused the write (ProgrammingError: permission denied "
                                  "for table reviews")
        assert "\n" not in refused and _all_reviews(owner) == []
        with owner.begin() as conn:
            conn.exec_driver_sql(f"GRANT INSERT ON reviews TO {role}")
            conn.exec_driver_sql(f"GRANT USAGE ON SEQUENCE reviews_review_id_seq TO {role}")
        assert _post_save(client, target, "explained") == "Saved: new → explained by ana"
        owner.dispose()
