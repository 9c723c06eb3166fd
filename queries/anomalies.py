"""Anomaly findings from `anomalies`: counts by detector and severity, per day, and the findings themselves."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from db import schema as s
from queries.base import SEVERITIES, Filters, as_int, fetch, in_range, one_of, source_file, standard
from queries.tables import anomalies as anomalies_t
from queries.cache import cached
from queries.paging import Col, TableQuery, all_rows
from queries.reviews import REVIEW_COLS, with_latest_review

files = s.ingested_files
MAX_DETECTOR_NAME = 64


def _where(filters: Filters, detector: str | None, severity: str | None) -> list:
    a = anomalies_t.c
    conds = standard(a, filters)
    if isinstance(detector, str) and detector and len(detector) <= MAX_DETECTOR_NAME:
        conds.append(a.detector == detector)  # bound: an unknown name simply matches nothing
    if one_of(severity, SEVERITIES):
        conds.append(a.severity == severity)
    return conds


def _select(filters: Filters, detector: str | None = None, severity: str | None = None):
    a = anomalies_t.c
    return (select(a.anomaly_id, a.detected_at, a.business_date, a.detector, a.severity, a.score, a.user_id,
                   a.currency, a.transaction_id, a.amount, a.explanation, a.parameters, source_file(),
                   a.line_no, a.fingerprint)
            .select_from(anomalies_t.outerjoin(files, files.c.file_id == a.file_id))
            .where(*_where(filters, detector, severity)))


def _reviewed(filters: Filters, detector: str | None = None, severity: str | None = None, review: str | None = None):
    return with_latest_review(_select(filters, detector, severity), "anomaly", review)


ANOMALIES = TableQuery(
    name="anomalies",
    build=_reviewed,
    params=("detector", "severity", "review"),
    columns=(Col("anomaly_id", "int"), Col("detected_at", "ts"), Col("business_date", "date"), Col("detector"),
             Col("severity"), Col("score", "num"), Col("user_id"), Col("currency"), Col("transaction_id"),
             Col("amount", "money"), Col("explanation"), Col("parameters"), Col("file"), Col("line_no", "int"),
             Col("fingerprint"), *REVIEW_COLS),
    key=("anomaly_id",),
    default_sort=(("business_date", "desc"), ("detected_at", "desc")),
    needs=("anomalies", "ingested_files", "reviews"),
)


def anomaly_findings(engine: Engine, filters: Filters = Filters(), detector: str | None = None,
                     severity: str | None = None, limit: int | None = None, review: str | None = None) -> list[dict]:
    """Anomaly findings matching the filters, newest first, each with its explanation, provenance and latest
    review."""
    return list(all_rows(engine, ANOMALIES, filters, limit=limit, detector=detector, severity=severity,
                         review=review))


def anomaly_counts(engine: Engine, filters: Filters = Filters(), detector: str | None = None,
                   severity: str | None = None) -> list[dict]:
    """Per detector and severity: number of findings."""
    if filters.user:
        return _counts_sql(engine, filters, detector, severity)
    return [{"detector": d, "severity": s, "count_anomalies": n}
            for (d, s), n in _rollup_totals(engine, filters, detector, severity, ("detector", "severity"))]


def anomalies_per_day(engine: Engine, filters: Filters = Filters(), detector: str | None = None,
                      severity: str | None = None) -> list[dict]:
    """Per business date and detector: number of findings."""
    if filters.user:
        return _per_day_sql(engine, filters, detector, severity)
    return [{"business_date": day, "detector": d, "count_anomalies": n}
            for (day, d), n in _rollup_totals(engine, filters, detector, severity, ("business_date", "detector"))]


def _rollup_totals(engine: Engine, filters: Filters, detector: str | None, severity: str | None,
                   keys: tuple[str, ...]) -> list[tuple[tuple, int]]:
    """Findings of the matching roll-up rows summed per `keys`, sorted by them."""
    out: dict[tuple, int] = defaultdict(int)
    for r in _rollup(engine, filters, detector, severity):
        out[tuple(r[k] for k in keys)] += r["n"]
    return sorted(out.items())


def _rollup(engine: Engine, filters: Filters, detector: str | None, severity: str | None):
    """The rows of the daily roll-up matching the filters (all but the user search)."""
    severity = one_of(severity, SEVERITIES)
    for r in _daily_rollup(engine):
        if (in_range(r["business_date"], filters) and (not filters.currency or r["currency"] == filters.currency)
                and (not detector or r["detector"] == detector) and (not severity or r["severity"] == severity)):
            yield r


@cached(copy=False)
def _daily_rollup(engine: Engine) -> list[dict]:
    """Findings per business date, currency, detector and severity: one scan of anomalies per data version."""
    a = anomalies_t.c
    stmt = (select(a.business_date, a.currency, a.detector, a.severity, func.count().label("n"))
            .group_by(a.business_date, a.currency, a.detector, a.severity))
    return [{**r, "n": as_int(r["n"])} for r in fetch(engine, stmt, ["anomalies"])]


@cached
def _counts_sql(engine: Engine, filters: Filters, detector: str | None, severity: str | None) -> list[dict]:
    a = anomalies_t.c
    stmt = (select(a.detector, a.severity, func.count().label("count_anomalies"))
            .where(*_where(filters, detector, severity)).group_by(a.detector, a.severity)
            .order_by(a.detector, a.severity))
    return [{**r, "count_anomalies": as_int(r["count_anomalies"])} for r in fetch(engine, stmt, ["anomalies"])]


@cached
def _per_day_sql(engine: Engine, filters: Filters, detector: str | None, severity: str | None) -> list[dict]:
    a = anomalies_t.c
    stmt = (select(a.business_date, a.detector, func.count().label("count_anomalies"))
            .where(*_where(filters, detector, severity)).group_by(a.business_date, a.detector)
            .order_by(a.business_date, a.detector))
    return [{**r, "count_anomalies": as_int(r["count_anomalies"])} for r in fetch(engine, stmt, ["anomalies"])]


@cached
def detectors(engine: Engine) -> list[str]:
    a = anomalies_t.c
    return sorted(d for d in (r["detector"] for r in fetch(engine, select(a.detector).distinct(),
                                                          ["anomalies"])) if d)
