"""Micro-benchmark for ingest/inspect_parser.py.

Budget: the whole 20 MB corpus (~20,000 payload blocks) must ingest in < 2 s,
so one 13-field sync block gets <= 15 µs. Run:

    .venv/bin/python bench/bench_inspect_parser.py

The blocks are the byte-exact doc examples kept as test fixtures.
"""

import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, without installing

from ingest.inspect_parser import parse_payload  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "inspect" / "valid"
CASES = {
    "full-schema sync block (13 fields)": "full_schema_sync_block",
    "not-in-sync block": "not_in_sync",
    "Transaction Lock block (Rr {…})": "transaction_lock_class_prefix",
}
BUDGET_US = 15.0  # for the full-schema block


def per_block_us(text: str) -> float:
    # Best of several repeats: the minimum is the least noisy estimate of the
    # parser's own cost on an otherwise idle machine.
    number = 20_000
    best = min(timeit.repeat(lambda: parse_payload(text), number=number, repeat=7))
    return best / number * 1e6


def main() -> int:
    results = {}
    for label, name in CASES.items():
        text = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")
        results[name] = us = per_block_us(text)
        print(f"{label:40s} {us:7.2f} µs/block")
    full = results["full_schema_sync_block"]
    verdict = "OK" if full <= BUDGET_US else "OVER BUDGET"
    print(f"full-schema budget {BUDGET_US:.0f} µs: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
