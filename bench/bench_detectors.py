"""Detector precision and recall: every detector and discrepancy kind scored against a sample's truth file.

    .venv/bin/python bench/bench_detectors.py [--runs SEED:DAYS:USERS,...] [--json PATH]

For each run it writes a sample export with `--truth` (sample/truth.py: the injected faults, the findings each
kind's definition gives on what the generator did, and near misses), ingests it with the default settings into
a fresh SQLite file (`ingest.py`, transforms included) and compares `anomalies` (per detector) and
`discrepancy_report` (per kind) with the truth, by the key each kind is about: the transaction (out_of_sync:
the episode's first one), the user (test_user), the metric and business day (error_day), the SQS message
(untied_error). It prints one table per run and one over all runs:

    precision = true findings / findings,  recall = true findings / listed findings,

and the near misses (truth rows with expect "none") that fired, which count as false findings too.
Targets: recall 1.0 for every kind, precision >= 0.95 for every rule-based kind, >= 0.9 for amount_spike.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import settings as settings_mod  # noqa: E402
from sample import generate  # noqa: E402
from sample.truth import read_truth  # noqa: E402
from vocabulary import DETECTORS, DISCREPANCY_KINDS  # noqa: E402

DEFAULT_RUNS = ((7, 14, 300), (11, 14, 300), (7, 42, 2000), (11, 42, 2000))
KINDS = (*DETECTORS, *DISCREPANCY_KINDS)
TARGET_RECALL = 1.0
TARGET_PRECISION = {"amount_spike": 0.9}   # every other kind: DEFAULT_PRECISION
DEFAULT_PRECISION = 0.95
DEFAULTS = settings_mod.Settings({s.name: s.default for s in settings_mod.SETTINGS})


@dataclasses.dataclass
class Score:
    listed: int = 0          # findings in the truth file
    found: int = 0           # findings of the build
    true: int = 0            # found and listed
    near_misses: int = 0     # near misses listed
    near_fired: int = 0      # near misses found

    @property
    def precision(self) -> float | None:
        return self.true / self.found if self.found else None

    @property
    def recall(self) -> float | None:
        return self.true / self.listed if self.listed else None

    def add(self, other: Score) -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def found_keys(db_path: Path) -> dict[str, set]:
    """The key of every finding of the build, per kind."""
    found: dict[str, set] = defaultdict(set)
    with sqlite3.connect(db_path) as conn:
        for detector, tx_id, user_id, day, parameters in conn.execute(
                "SELECT detector, transaction_id, user_id, business_date, parameters FROM anomalies"):
            if detector == "test_user":
                found[detector].add(user_id)
            elif detector == "error_day":
                found[detector].add((json.loads(parameters)["metric"], day))
            else:
                found[detector].add(tx_id)
        for kind, discrepancy_id, first_tx in conn.execute(
                "SELECT kind, discrepancy_id, first_transaction_id FROM discrepancy_report"):
            # untied_error:<ts>:<message or request id>; the time has colons of its own
            found[kind].add(discrepancy_id.rsplit(":", 1)[1] if kind == "untied_error" else first_tx)
    return found


def truth_keys(rows: list[dict], business_tz) -> tuple[dict[str, set], dict[str, set]]:
    """(listed findings, near misses): keys per kind, as found_keys makes them."""
    listed: dict[str, set] = defaultdict(set)
    near: dict[str, set] = defaultdict(set)
    for row in rows:
        kind = row["kind"]
        if kind == "test_user":
            key = row["user_id"]
        elif kind == "error_day":
            at = datetime.fromisoformat(row["time"].replace("Z", "+00:00"))
            key = (row["detail"], at.astimezone(business_tz).date().isoformat())
        elif kind == "untied_error":
            key = row["detail"]
        else:
            key = row["transaction_id"]
        (listed if row["expect"] == "finding" else near)[kind].add(key)
    return listed, near


def score(found: dict[str, set], listed: dict[str, set], near: dict[str, set]) -> dict[str, Score]:
    return {kind: Score(len(listed[kind]), len(found[kind]), len(found[kind] & listed[kind]), len(near[kind]),
                        len(found[kind] & near[kind]))
            for kind in KINDS}


def run(seed: int, days: int, users: int, tmp: Path) -> dict[str, Score]:
    """Write the sample with its truth, ingest it with the default settings, score every kind."""
    folder = tmp / f"s{seed}-{days}d-{users}u"
    export, truth, db = folder / "export", folder / "truth.csv", folder / "sample.db"
    generate(export, days=days, users=users, seed=seed, truth=truth)
    # the default settings: no .env, and none of the settings from the environment
    env = {k: v for k, v in os.environ.items() if k not in DEFAULTS.values}
    done = subprocess.run([sys.executable, str(ROOT / "ingest.py"), str(export), "--database-url", f"sqlite:///{db}",
                           "-q", "--env-file", os.devnull], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed: {done.stderr.strip()}")
    listed, near = truth_keys(read_truth(truth), DEFAULTS.business_tz)
    return score(found_keys(db), listed, near)


def misses(scores: dict[str, Score]) -> list[str]:
    """One line per kind that misses a target."""
    out = []
    for kind, s in scores.items():
        target = TARGET_PRECISION.get(kind, DEFAULT_PRECISION)
        if s.listed == 0:
            out.append(f"{kind}: nothing listed, so nothing measured")
        elif s.recall < TARGET_RECALL:
            out.append(f"{kind}: recall {s.recall:.3f} < {TARGET_RECALL}")
        if s.precision is not None and s.precision < target:
            out.append(f"{kind}: precision {s.precision:.3f} < {target}")
    return out


def table(scores: dict[str, Score]) -> str:
    def ratio(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"
    lines = ["| kind | listed | found | true | false | missed | near misses fired | precision | recall |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, s in scores.items():
        lines.append(f"| `{kind}` | {s.listed} | {s.found} | {s.true} | {s.found - s.true} | {s.listed - s.true} "
                     f"| {s.near_fired} of {s.near_misses} | {ratio(s.precision)} | {ratio(s.recall)} |")
    return "\n".join(lines)


def parse_runs(text: str) -> list[tuple[int, int, int]]:
    try:
        return [tuple(int(n) for n in part.split(":")) for part in text.split(",")]
    except ValueError:
        raise SystemExit(f"--runs {text!r}: use SEED:DAYS:USERS,… e.g. 7:14:300,11:42:2000") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(":".join(map(str, r)) for r in DEFAULT_RUNS),
                        help="SEED:DAYS:USERS of each sample, separated by commas")
    parser.add_argument("--json", metavar="PATH", help="also write every score as JSON")
    args = parser.parse_args()
    total = {kind: Score() for kind in KINDS}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, days, users in parse_runs(args.runs):
            scores = run(seed, days, users, Path(tmp))
            results[f"seed {seed}, {days} days, {users} users"] = scores
            print(f"\n### seed {seed}, {days} days, {users} users\n\n{table(scores)}")
            for kind, s in scores.items():
                total[kind].add(s)
    print(f"\n### all runs\n\n{table(total)}\n")
    missed = misses(total)
    print("\n".join(f"target missed: {line}" for line in missed) or "every target met")
    if args.json:
        Path(args.json).write_text(json.dumps({name: {k: dataclasses.asdict(s) for k, s in scores.items()}
                                               for name, scores in results.items()}, indent=1) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
