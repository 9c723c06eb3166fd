"""bench/bench_detectors.py on the small sample: every detector and discrepancy kind has findings listed in the
truth file, the build finds each of them and nothing else, and no near miss fires."""
from __future__ import annotations

from bench.bench_detectors import KINDS, misses, run


def test_every_kind_is_measured_and_meets_its_targets(tmp_path):
    scores = run(7, 14, 300, tmp_path)
    assert set(scores) == set(KINDS)
    assert [kind for kind, s in scores.items() if s.listed == 0] == []
    assert misses(scores) == []
    assert {kind: (s.found, s.true) for kind, s in scores.items() if s.found != s.true} == {}
    assert {kind: s.near_misses for kind, s in scores.items() if s.near_misses} == {
        "amount_spike": 6, "rapid_deduction": 3, "off_hours_manual": 3, "duplicate_transaction": 3}
    assert sum(s.near_fired for s in scores.values()) == 0
