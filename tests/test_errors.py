"""One error shape for every command: the exact line, the exit code, and the flags each command offers."""
from __future__ import annotations

import gzip
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

import errors
import pipeline
import settings as settings_mod
from app import __main__ as app_main
from db.lock import IngestBusy
from ingest import __main__ as ingest_main
from pipeline import cli as ingest_cli
from reports import cli as reports_cli
from scheduler import cli as scheduler_cli
from transform import __main__ as transform_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log"

# (module with main(argv), the program name it prints, arguments it needs besides the failing setting)
COMMANDS = [
    (ingest_cli, "ingest.py", []),
    (transform_main, "python -m transform", ["--dry-run"]),
    (reports_cli, "python -m reports", ["html"]),
    (scheduler_cli, "python -m scheduler", ["--dry-run"]),
    (app_main, "python -m app", []),
]
# Commands that read the database and take no other setting
READERS = [(ingest_main, "python -m ingest", ["show", "1:1"])]


def run(body, interrupted: str = ""):
    return errors.run_command("prog", body, interrupted)


def raising(exc: BaseException):
    def body():
        raise exc
    return body


@pytest.mark.parametrize("exc, code, line", [
    (errors.UsageError("--from 2024-01-10 is after --to 2024-01-01; swap them"), 2,
     "prog: error: --from 2024-01-10 is after --to 2024-01-01; swap them"),
    (errors.SettingsError("BURST_MS='x' cannot be read"), 2, "prog: error: BURST_MS='x' cannot be read"),
    (errors.InputError("/x: no such file or folder"), 2, "prog: error: /x: no such file or folder"),
    (IngestBusy("another ingest is running"), 4, "prog: error: another ingest is running"),
    (errors.AccessDenied("s3://b/x.gz: access denied (AccessDenied): the AWS identity in use may not read it"), 5,
     "prog: error: s3://b/x.gz: access denied (AccessDenied): the AWS identity in use may not read it"),
    (errors.ReportError("the database has no transactions yet"), 1,
     "prog: error: the database has no transactions yet"),
    (OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file\nmore")), 1,
     "prog: error: database error: unable to open database file"),
    (PermissionError(13, "Permission denied", "/reports/x.csv"), 1,
     "prog: error: /reports/x.csv: Permission denied"),
    (ZeroDivisionError("division by zero"), 1,
     "prog: error: unexpected ZeroDivisionError: division by zero (set BALANCE_LOGS_DEBUG=1 for the traceback)"),
])
def test_every_failure_is_one_line_with_its_exit_code(exc, code, line, capsys, monkeypatch):
    monkeypatch.delenv(errors.DEBUG_ENV, raising=False)
    assert run(raising(exc)) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")


def test_interrupt_says_what_is_kept(capsys):
    assert run(raising(KeyboardInterrupt()), "files completed so far are kept") == 130
    assert capsys.readouterr().err == "prog: interrupted; files completed so far are kept\n"


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv(errors.DEBUG_ENV, "1")
    with pytest.raises(ZeroDivisionError):
        run(raising(ZeroDivisionError("x")))


def test_success_passes_the_exit_code_through():
    assert run(lambda: 3) == 3


@pytest.mark.parametrize("module, prog, args", COMMANDS, ids=[c[1] for c in COMMANDS])
def test_a_bad_setting_is_the_same_line_in_every_command(module, prog, args, capsys, tmp_path):
    argv = [*args, "--env-file", os.devnull, "--database-url", f"sqlite:///{tmp_path / 'x.db'}",
            "--business-tz", "Mars/Olympus"]
    assert module.main(argv) == 2
    out, err = capsys.readouterr()
    assert err == (f"{prog}: error: BUSINESS_TZ='Mars/Olympus' is not an offset like +03:00 or a time zone name "
                   "like Asia/Riyadh\n")


@pytest.mark.parametrize("module, prog, args", COMMANDS + READERS, ids=[c[1] for c in COMMANDS + READERS])
def test_a_password_on_the_command_line_is_refused(module, prog, args, capsys):
    argv = [*args, "--env-file", os.devnull, "--database-url", "postgresql+psycopg://app:s3cret@db/balance"]
    assert module.main(argv) == 2
    _, err = capsys.readouterr()
    assert err == (f"{prog}: error: --database-url holds a password, which any user can read in the process list; "
                   "set DATABASE_URL in .env or the environment instead\n")


@pytest.mark.parametrize("module, prog, args", COMMANDS + READERS, ids=[c[1] for c in COMMANDS + READERS])
@pytest.mark.parametrize("url", ["postgresql+psycopg://app:s3cr@t-pw@nohost.invalid/balance",
                                 "postgresql+psycopg://app:s3cr@t-pw:9@nohost.invalid/balance"])
def test_a_database_url_with_an_unescaped_at_shows_no_part_of_the_password(module, prog, args, url, capsys,
                                                                           monkeypatch, tmp_path):
    """The part of the password after the '@' would be taken as the host (or port) and come back in the error."""
    monkeypatch.setenv("DATABASE_URL", url)
    (tmp_path / "000000.log").write_text("2024-01-01T00:00:00.000Z START RequestId: r Version: $LATEST\n")
    assert module.main([*args, "--env-file", os.devnull, *([str(tmp_path)] if module is ingest_cli else [])]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"{prog}: error: DATABASE_URL ") and err.count("\n") == 1
    assert "s3cr" not in out + err and "t-pw" not in out + err and "nohost" not in out + err


def _flags(module) -> set[str]:
    return {option for action in module.build_parser()._actions for option in action.option_strings}


@pytest.mark.parametrize("module, prog, args", COMMANDS, ids=[c[1] for c in COMMANDS])
def test_no_secret_is_a_flag(module, prog, args):
    secrets = {settings_mod.flag_of(s.name) for s in settings_mod.SETTINGS if s.secret} - {"--database-url"}
    assert not secrets & _flags(module)


def test_each_command_offers_a_flag_for_the_settings_it_applies():
    transform_flags = {settings_mod.flag_of(n) for n in transform_main.SETTINGS_USED}
    for module in (transform_main, ingest_cli, scheduler_cli):  # ingest.py and the scheduler build too
        assert transform_flags <= _flags(module), module.__name__
    assert "--amount-spike-threshold" not in _flags(reports_cli)  # reports do not run detectors
    assert "--smtp-host" in _flags(ingest_cli)  # ingest.py sends alerts


class Recording(dict):
    """Settings values that remember which names were read."""
    read: set

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def test_a_run_reads_only_the_settings_its_command_offers(tmp_path):
    """What ingest.py offers as flags (pipeline.SETTINGS_USED) covers every setting a whole run reads."""
    folder = tmp_path / "logs" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb" / "2024-02-13-[$LATEST]565b62b84a8c4d8a"
    folder.mkdir(parents=True)
    (folder / "000000.gz").write_bytes(gzip.compress(EXAMPLES.read_bytes()))
    loaded = settings_mod.load(os.devnull, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
                               SMTP_HOST="127.0.0.1", SMTP_PORT="9", ALERT_EMAIL_TO="ops@example.com")
    values = Recording(loaded.values)
    values.read = set()
    summary = pipeline.run([str(tmp_path / "logs")], settings_mod.Settings(values))
    assert summary.transactions > 0 and summary.alerts["status"] in ("ok", "failed")
    assert values.read <= set(pipeline.SETTINGS_USED), values.read - set(pipeline.SETTINGS_USED)
