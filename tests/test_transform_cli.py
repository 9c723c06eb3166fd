"""`python -m transform`: the dry run lists the statements in order; a run rebuilds and reports counts."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.transform_ledger import LedgerDB, uid

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "transform", "--env-file", os.devnull, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_dry_run_prints_every_step_in_dependency_order():
    out = cli("--dry-run", "--database-url", "sqlite:////nonexistent/never-opened.db")
    assert out.returncode == 0, out.stderr
    steps = re.findall(r"^-- step \d+: (\S+(?: \S+)?):", out.stdout, re.M)
    order = [s.split(" ")[-1] for s in steps]
    for before, after in (("int_ledger", "balance_events"), ("balance_events", "discrepancy_report"),
                          ("discrepancy_report", "frequent_discrepancies"), ("daily_event_counts", "error_days"),
                          ("error_days", "anomalies"), ("anomalies", "user_balances")):
        assert order.index(before) < order.index(after), (before, after)
    assert "UPDATE balance_events SET" in out.stdout and "INSERT INTO anomalies" in out.stdout
    assert not Path("/nonexistent/never-opened.db").exists()


def test_dry_run_for_postgresql_uses_its_dialect():
    out = cli("--dry-run", "--dialect", "postgresql")
    assert out.returncode == 0, out.stderr
    assert "IS DISTINCT FROM" in out.stdout and " IS NOT derived." not in out.stdout


def test_run_rebuilds_and_reports_counts(tmp_path):
    db = LedgerDB(f"sqlite:///{tmp_path / 'cli.db'}")
    db.tx("T1", uid(1), "2024-03-04T21:01:00.000Z", "DEBIT", "8", "0", "10", "2")
    db.build()
    db.close()
    out = cli("--database-url", db.url, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["balance_events"] == 1 and result["user_balances"] == 1 and result["anomalies"] == 0


def test_bad_threshold_is_a_usage_error():
    out = cli("--dry-run", "--amount-spike-threshold", "lots")
    assert out.returncode == 2
    assert out.stderr.strip() == ("python -m transform: error: AMOUNT_SPIKE_THRESHOLD='lots' cannot be read; "
                                  "see docs/transforms.md")


def test_a_build_is_one_transaction_readers_see_the_old_tables_until_it_commits(tmp_path):
    """Readers (the dashboard) never see a derived table dropped or half rebuilt."""
    import sqlite3

    from transform.runner import build_all
    db = LedgerDB(f"sqlite:///{tmp_path / 'atomic.db'}")
    db.tx("T1", uid(1), "2024-03-04T21:01:00.000Z", "DEBIT", "8", "0", "10", "2")
    db.build()
    reader = sqlite3.connect(tmp_path / "atomic.db")
    tables = ("ref_currencies", "balance_events", "discrepancy_report", "anomalies", "user_balances")
    before = {name: reader.execute(f"SELECT count(*) FROM {name}").fetchone() for name in tables}
    seen = []

    def during(step, _seconds):
        seen.append({name: reader.execute(f"SELECT count(*) FROM {name}").fetchone() for name in tables})
    build_all(db.engine, db.settings, on_step=during)
    db.close()
    assert len(seen) > 5 and all(view == before for view in seen)
