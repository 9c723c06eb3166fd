"""Reviews: what reviewers decided about each discrepancy and anomaly, with the full history.

`reviews` (db/schema.py) is append-only: `record_review()` adds a row and nothing updates or deletes one, so
two reviewers saving at once both keep their entry, and the latest row of a target (the highest review_id) is
its current state. A target is a discrepancy (`discrepancy_report.discrepancy_id`) or an anomaly
(`anomalies.fingerprint`), both ids that every rebuild and --full-refresh reproduce; the id is treated as
opaque text. A review whose target a rebuild no longer produces stays, and `orphaned_reviews()` lists it.
A target nobody has reviewed yet has the review status `new`.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import String, and_, cast, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select

from db import schema as s
from queries.base import connect, fetch, one_of, require
from queries.paging import Col
from queries.tables import anomalies, discrepancy_report
from settings import Settings
from vocabulary import REVIEW_STATUSES, REVIEW_TARGETS

NEW = REVIEW_STATUSES[0]
MAX_TARGET_ID = 200
MAX_NAME = 64  # reviewer and assignee
MAX_NOTE = 4000
REVIEW_FIELDS = ("review_id", "target_type", "target_id", "status", "previous_status", "assignee", "note",
                 "reviewer", "reviewed_at", "user_id")

reviews = s.reviews


class ReviewRefused(ValueError):
    """A review that was not recorded; the message says why, in one line."""


def _target(target_type: str):
    """(table, its id as text). An id column that is not text yet is cast, so it compares with `target_id`; a
    text id is compared as it is, so its index serves the lookups."""
    if target_type == "discrepancy":
        table, column = discrepancy_report, discrepancy_report.c.discrepancy_id
    elif target_type == "anomaly":
        table, column = anomalies, anomalies.c.fingerprint
    else:
        raise ReviewRefused(f"unknown review target {target_type!r}; expected one of: {', '.join(REVIEW_TARGETS)}")
    return table, column if isinstance(column.type, String) else cast(column, String)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- writing ---------------------------------------------------------------------------------------

def record_review(engine: Engine, settings: Settings, target_type: str, target_id: str, status: str, *,
                  reviewer: str, assignee: str | None = None, note: str | None = None) -> dict:
    """Append one review of an existing target and return it (with its previous status). Raises ReviewRefused
    on a read-only dashboard (DASH_READ_ONLY), an unknown status or target, or a busy database."""
    if settings.read_only:
        raise ReviewRefused("this dashboard is read-only (DASH_READ_ONLY=true): reviews are not saved")
    table, key = _target(target_type)
    values = _checked(target_id, status, reviewer, assignee, note)
    try:
        with engine.begin() as conn:
            require(conn, reviews.name, table.name)
            target = conn.execute(select(table.c.user_id).where(key == values["target_id"]).limit(1)).first()
            if target is None:
                raise ReviewRefused(f"there is no {target_type} {values['target_id']} in {table.name} "
                                    "(rebuilt since the page was shown?); reload the page")
            r = reviews.c
            previous = (select(r.status).where(r.target_type == target_type, r.target_id == values["target_id"])
                        .order_by(r.review_id.desc()).limit(1).scalar_subquery())
            stmt = (reviews.insert().values(target_type=target_type, previous_status=previous, user_id=target.user_id,
                                            reviewed_at=now_iso(), **values)
                    .returning(*(r[name] for name in REVIEW_FIELDS)))
            return dict(conn.execute(stmt).mappings().one())
    except OperationalError as exc:
        if "locked" in str(exc.orig).lower():  # SQLite: an ingest or a build held it past the busy timeout
            raise ReviewRefused("the database is busy (an ingest or a rebuild is writing); save again in a "
                                "minute") from None
        raise


def _checked(target_id, status, reviewer, assignee, note) -> dict:
    target_id = (target_id if isinstance(target_id, str) else str(target_id or "")).strip()
    if not target_id or len(target_id) > MAX_TARGET_ID:
        raise ReviewRefused(f"a review needs the id of its target (at most {MAX_TARGET_ID} characters)")
    if one_of(status, REVIEW_STATUSES) is None:
        raise ReviewRefused(f"unknown review status {status!r}; choose one of: {', '.join(REVIEW_STATUSES)}")
    reviewer = (reviewer or "").strip()
    if not reviewer or len(reviewer) > MAX_NAME:
        raise ReviewRefused(f"a review needs a reviewer name of 1 to {MAX_NAME} characters")
    assignee = (assignee or "").strip() or None
    if assignee and len(assignee) > MAX_NAME:
        raise ReviewRefused(f"the assignee has more than {MAX_NAME} characters")
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        raise ReviewRefused(f"the note has more than {MAX_NOTE:,} characters")
    return {"target_id": target_id, "status": status, "reviewer": reviewer, "assignee": assignee, "note": note}


# --- reading ---------------------------------------------------------------------------------------

def review_history(engine: Engine, target_type: str, target_id: str) -> list[dict]:
    """Every review of one target, newest first."""
    r = reviews.c
    stmt = (select(*(r[name] for name in REVIEW_FIELDS)).where(r.target_type == target_type,
                                                               r.target_id == str(target_id))
            .order_by(r.review_id.desc()))
    return fetch(engine, stmt, [reviews.name])


def latest_review(engine: Engine, target_type: str, target_id: str) -> dict | None:
    """The target's current review (its latest), or None when nobody has reviewed it."""
    history = review_history(engine, target_type, target_id)
    return history[0] if history else None


def _no_later_review(r):
    """The condition that row `r` of reviews is its target's latest: no review of the target after it (a seek in
    ix_reviews_target for each row it is checked on)."""
    later = reviews.alias("later_review")
    return ~exists().where(later.c.target_type == r.c.target_type, later.c.target_id == r.c.target_id,
                           later.c.review_id > r.c.review_id)


def latest_reviews(engine: Engine, target_type: str | None = None) -> list[dict]:
    """The current review of every reviewed target (of one type), latest first, with its number of reviews."""
    r, every = reviews, reviews.alias("every_review")
    count = (select(func.count()).where(every.c.target_type == r.c.target_type, every.c.target_id == r.c.target_id)
             .scalar_subquery())
    stmt = select(*(r.c[name] for name in REVIEW_FIELDS), count.label("count_reviews")).where(_no_later_review(r))
    if target_type is not None:
        stmt = stmt.where(r.c.target_type == target_type)
    return fetch(engine, stmt.order_by(r.c.review_id.desc()), [reviews.name])


def orphaned_reviews(engine: Engine, chunk: int = 500) -> list[dict]:
    """The latest review of every target that is no longer in discrepancy_report or anomalies (a rebuild stopped
    producing it), latest first. Their history stays in `reviews`."""
    latest = latest_reviews(engine)
    present = set()
    with connect(engine) as conn:
        require(conn, discrepancy_report.name, anomalies.name)
        for target_type in REVIEW_TARGETS:
            _, key = _target(target_type)
            ids = [r["target_id"] for r in latest if r["target_type"] == target_type]
            for start in range(0, len(ids), chunk):  # one lookup per chunk of ids, not one per review
                found = conn.execute(select(key).where(key.in_(ids[start:start + chunk]))).scalars()
                present.update((target_type, str(i)) for i in found)
    return [r for r in latest if (r["target_type"], r["target_id"]) not in present]


# --- the latest review beside the rows of a table (the grids, the CSV export, the workbook) ----------

# the columns with_latest_review() adds, for a TableQuery's list
REVIEW_COLS = (Col("review_status"), Col("assignee"), Col("reviewed_by"), Col("reviewed_at", "ts"), Col("review_note"))


def with_latest_review(stmt: Select, target_type: str, status: str | None = None) -> Select:
    """`stmt` (over the target's table) with its latest review as the columns REVIEW_COLS (`review_status`
    is `new` when nobody has reviewed the row), and only the rows whose review status is `status` when given.
    Each row finds its latest review with two seeks in ix_reviews_target, whatever the number of reviews."""
    _, key = _target(target_type)
    latest = reviews.alias("latest_review")
    review_status = func.coalesce(latest.c.status, NEW)
    stmt = (stmt.outerjoin(latest, and_(latest.c.target_type == target_type, latest.c.target_id == key,
                                        _no_later_review(latest)))
            .add_columns(review_status.label("review_status"), latest.c.assignee.label("assignee"),
                         latest.c.reviewer.label("reviewed_by"), latest.c.reviewed_at.label("reviewed_at"),
                         latest.c.note.label("review_note")))
    if one_of(status, REVIEW_STATUSES):
        stmt = stmt.where(review_status == status)
    return stmt
