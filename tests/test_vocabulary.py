"""vocabulary.py is the one list of stored words: the copies that cannot import it (YAML, SQL file names,
the classifier's message table) agree with it."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

import vocabulary as v
from ingest import classify

ROOT = Path(__file__).resolve().parents[1]
INVARIANTS = ROOT / "transform" / "invariants"


def accepted(table: str, column: str) -> list[str]:
    return yaml.safe_load((INVARIANTS / f"{table}.yml").read_text())["accepted_values"][column]


def test_the_classifier_emits_exactly_the_event_kinds():
    emitted = ({kind for _, kind, _, _ in classify.APP_MESSAGES} | set(classify.JSON_AFTER_TAB.values())
               | set(classify.PLATFORM.values()) | {"negative_balance_guard", "metric", "runtime_error", "unknown"})
    assert emitted == set(v.EVENT_KINDS)
    assert set(v.SKIP_KINDS) | set(v.ERROR_KINDS) | set(v.PLATFORM_KINDS) <= set(v.EVENT_KINDS)


def test_the_invariant_sidecars_accept_exactly_the_vocabulary():
    assert accepted("anomalies", "detector") == list(v.DETECTORS)
    assert accepted("anomalies", "severity") == list(v.SEVERITIES)
    assert accepted("discrepancy_report", "kind") == list(v.DISCREPANCY_KINDS)
    assert accepted("discrepancy_report", "status") == list(v.DISCREPANCY_STATUSES)


def test_every_sql_detector_has_its_file():
    files = {p.stem for p in (ROOT / "transform" / "detectors").glob("*.sql")}
    assert files == set(v.SQL_DETECTORS)


def test_the_dashboard_guide_explains_exactly_the_review_statuses():
    guide = (ROOT / "docs" / "dashboard.md").read_text()
    reviews = guide.split("\n## Reviews\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", reviews, re.M) == list(v.REVIEW_STATUSES)
