"""`python -m reports`: a thin mirror of reports.build with one-line errors and exit codes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine
from db.migrate import HEAD_REVISION
from reports.cli import main
from test_reports_fixture import build_fixture

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    return build_fixture(f"sqlite:///{tmp_path_factory.mktemp('cli') / 'fixture.db'}")


@pytest.fixture
def cli(db, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PSEUDONYMISE_KEY", raising=False)

    def run(*args: str, database: str | None = None) -> tuple[int, str, str]:
        code = main([*args, "--env-file", os.devnull, "--database-url", database or db])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_all_writes_every_report_and_lists_them(cli, tmp_path):
    code, out, err = cli("all", "--out", str(tmp_path / "out"), "--raw-csv")
    assert (code, err) == (0, "")
    assert [Path(line).name for line in out.splitlines()] == [
        "report.html", "report.xlsx", "overdrafts-2024-01-15.csv", "reconciliation-2024-W03.csv",
        "reconciliation-2024-W03.html", "events.csv"]
    assert all(Path(line).stat().st_size > 0 for line in out.splitlines())


@pytest.mark.parametrize("args, code, message", [
    (["daily-overdrafts", "--date", "2024-13-01"], 2,
     "python -m reports: error: --date '2024-13-01' is not a date; write it as YYYY-MM-DD, e.g. 2024-01-08"),
    (["weekly-reconciliation", "--week", "W02"], 2,
     "python -m reports: error: --week 'W02' is not a week; write it as an ISO week like 2024-W02 or any date inside "
     "the week"),
    (["excel", "--from", "2024-01-10", "--to", "2024-01-01"], 2,
     "python -m reports: error: --from 2024-01-10 is after --to 2024-01-01; swap them"),
    (["excel", "--columns", "everything"], 2,
     "python -m reports: error: --columns 'everything' is neither a preset (accounting, full) nor a .json file"),
    (["html", "--pseudonymise"], 2,
     "python -m reports: error: --pseudonymise needs a key: set PSEUDONYMISE_KEY (any long random text) in .env "
     "or the environment"),
])
def test_usage_errors_are_one_line_and_exit_2(cli, tmp_path, args, code, message):
    got, out, err = cli(*args, "--out", str(tmp_path))
    assert (got, out, err) == (code, "", message + "\n")


def test_unknown_kind_is_an_argparse_usage_error(cli, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli("pdf", "--out", str(tmp_path))
    assert exit_.value.code == 2


def test_database_without_derived_tables_exits_1(cli, tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    code, out, err = cli("html", "--out", str(tmp_path), database=empty)
    assert (code, out) == (1, "")
    assert err == ("python -m reports: error: the database lacks anomalies, balance_events, balance_rollforward, "
                   "daily_flows, daily_health, discrepancy_report, reviews, user_balances: run ingest.py (it builds "
                   "the derived tables at the end) before writing reports\n")


@pytest.mark.parametrize("kind, table", [("html", "balance_rollforward"), ("excel", "balance_rollforward"),
                                         ("weekly-reconciliation", "discrepancy_transactions")])
def test_derived_tables_older_than_the_reports_exit_1(cli, tmp_path, kind, table):
    """Built before the roll-forward and the episodes' transactions existed: one line, no traceback."""
    old = build_fixture(f"sqlite:///{tmp_path / 'old.db'}")
    engine = make_engine(old)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()
    code, out, err = cli(kind, "--out", str(tmp_path / "out"), database=old)
    assert (code, out) == (1, "")
    assert err == (f"python -m reports: error: the database lacks {table}: run ingest.py (it builds the derived "
                   "tables at the end) before writing reports\n")


def test_a_schema_older_than_the_reports_exits_1(cli, tmp_path):
    """A database ingest has not upgraded since the code changed (ingested_files.relative_path is revision 0007)."""
    old = build_fixture(f"sqlite:///{tmp_path / 'old.db'}")
    engine = make_engine(old)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    engine.dispose()
    code, out, err = cli("excel", "--out", str(tmp_path / "out"), database=old)
    assert (code, out) == (1, "")
    assert err == ("python -m reports: error: the database's schema is at revision 0006, older than this version's "
                   f"{HEAD_REVISION}: run ingest.py (it upgrades the schema) before writing reports\n")


def test_pseudonymise_with_the_key_from_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PSEUDONYMISE_KEY", "k1")  # a secret is never a flag: `ps` shows command lines
    code, out, _ = cli("daily-overdrafts", "--date", "2024-01-10", "--pseudonymise", "--out", str(tmp_path))
    assert code == 0 and "user-c" not in Path(out.strip()).read_text()


def test_python_dash_m_reports(db, tmp_path):
    done = subprocess.run([sys.executable, "-m", "reports", "weekly-reconciliation", "--week", "2024-W02", "--out",
                           str(tmp_path), "--database-url", db, "--env-file", os.devnull, "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (tmp_path / "reconciliation-2024-W02.csv").exists()
