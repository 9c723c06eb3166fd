"""A transaction logged twice (SQS delivered its message again): the copy logged first is applied, whatever
order the files are read in and however they are split between runs, on SQLite and PostgreSQL.

The export: a user's three transactions in one stream (credit 50, debit 8, debit 8), and a second stream
holding the middle transaction again, logged five minutes later, identical or with other figures (amount 9,
new balance 41). Stream folders end in random hex, so the second stream sorts before or after the first. If
the later copy were applied, the conflicting one would also break the continuity of the user's next
transaction. Each split of the files into runs must end exactly where one run over both ends.
"""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from db.engine import make_engine
from pipeline import run
from tests import dbsnap

GROUP = "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
USER = "df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02"
TWICE = "01HPJ4BT09Y3GYQQZD1XFEGDH2"
FIRST_AT = datetime(2024, 2, 13, 12, 0, 0, 50_000, tzinfo=timezone.utc)
AGAIN_AT = FIRST_AT + timedelta(minutes=5)
# (transaction id, time, type, amount, old balance, new balance) of the user's transactions, in order
LEDGER = [("01HPJ4BT09Y3GYQQZD1XFEGDH1", FIRST_AT - timedelta(hours=2), "CREDIT", "50", "0", "50"),
          (TWICE, FIRST_AT, "DEBIT", "8", "50", "42"),
          ("01HPJ4BT09Y3GYQQZD1XFEGDH3", FIRST_AT + timedelta(hours=6), "DEBIT", "8", "42", "34")]
COPIES = {"identical": (TWICE, AGAIN_AT, "DEBIT", "8", "50", "42"),
          "conflicting": (TWICE, AGAIN_AT, "DEBIT", "9", "50", "41")}


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


SYNC_AFTER = timedelta(milliseconds=200)  # from an invocation's START to its sync block


def invocation(n: int, tx: str, at: datetime, kind: str, amount: str, old: str, new: str) -> str:
    """One invocation of the Lambda syncing one transaction, as the export prints it."""
    request, message = f"405bb962-f57b-521d-81a1-{n:012d}", f"861bec95-b670-4f2a-acf9-{n:012d}"
    t = [_ts(at + timedelta(milliseconds=ms)) for ms in (0, 100, SYNC_AFTER.microseconds // 1000, 300, 400)]
    sync = (f"Start syncing the balance {{\n  transaction: {{\n    id: '{tx}',\n    type: '{kind}',\n"
            f"    source: 'MANUAL_DEDUCTION',\n    action: 'DELIVERY_DEDUCTION',\n    userId: '{USER}',\n"
            f"    paymentBalance: {new},\n    updatePaymentBalance: true,\n    metadata: '{{}}',\n"
            f"    currency: 'BHD',\n    amount: {amount},\n    vat: 0,\n    oldBalance: {old},\n"
            f"    newBalance: {new}\n  }}\n}}")
    return "".join(line + "\n\n" for line in (
        f"{t[0]} START RequestId: {request} Version: $LATEST",
        f"{t[1]} {t[1]}\t{request}\tINFO\tProcessing message {message}",
        f"{t[2]} {t[2]}\t{request}\tINFO\t{sync}",
        f"{t[3]} {t[3]}\t{request}\tINFO\tSubscriptionBalanceUpdated event published",
        f"{t[4]} END RequestId: {request}",
        f"{t[4]} REPORT RequestId: {request}\tDuration: 400.00 ms\tBilled Duration: 400 ms\t"
        "Memory Size: 1024 MB\tMax Memory Used: 100 MB\t"))


def stream(root: Path, hex_tail: str, transactions: list[tuple], first_n: int) -> Path:
    folder = root / GROUP / f"2024-02-13-[$LATEST]{hex_tail}"
    folder.mkdir(parents=True)
    body = "".join(invocation(first_n + i, *tx) for i, tx in enumerate(transactions))
    (folder / "000000.gz").write_bytes(gzip.compress(body.encode()))
    return folder


def export(root: Path, content: str, again_sorts_first: bool) -> tuple[Path, Path]:
    """(the stream that logged the transaction first, the stream that logged it again)."""
    early, late = "0" * 32, "f" * 32
    first = stream(root, late if again_sorts_first else early, LEDGER, 1)
    again = stream(root, early if again_sorts_first else late, [COPIES[content]], 10)
    return first, again


@pytest.fixture
def reference_url(database_url, tmp_path, request):
    """A second empty database on the same backend, for the one-run reference."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'reference.db'}"
    return request.getfixturevalue("pg_server").create_database()


SPLITS = {"one run": ("both",), "first copy's run first": ("first", "again"),
          "later copy's run first": ("again", "first")}


def _snapshot(url: str) -> dict:
    """The database without what depends on load order alone (event ids, and the first of each file: file and
    line say the same)."""
    snap = dbsnap.snapshot(url)
    engine, meta = dbsnap.reflect(url)
    engine.dispose()
    out = {}
    for name, rows in snap.items():
        cols = [c.name for c in meta.tables[name].columns
                if c.name not in dbsnap.BOOKKEEPING_COLUMNS | dbsnap.SEQUENCE_KEYS]
        keep = [i for i, c in enumerate(cols) if c not in ("event_id", "first_event_id")]
        out[name] = sorted(tuple(row[i] for i in keep) for row in rows)
    return out


@pytest.mark.parametrize("again_sorts_first", [True, False], ids=["later copy's stream sorts first",
                                                                  "later copy's stream sorts last"])
@pytest.mark.parametrize("content", ["identical", "conflicting"])
@pytest.mark.parametrize("split", SPLITS)
def test_the_copy_logged_first_is_applied(tmp_path, make_settings, reference_url, content, again_sorts_first,
                                          split):
    root = tmp_path / "export"
    first, again = export(root, content, again_sorts_first)
    folders = {"first": first, "again": again, "both": root}  # the whole export is read in path order
    settings = make_settings()
    summaries = [run([str(folders[part])], settings) for part in SPLITS[split]]
    assert sum(s.transactions for s in summaries) == 3
    assert sum(s.duplicates for s in summaries) == (content == "identical")
    assert sum(s.conflicts for s in summaries) == (content == "conflicting")

    with make_engine(settings.database_url).connect() as conn:
        applied = conn.execute(text(
            "SELECT b.ts, b.amount_text, b.new_balance_text, f.path FROM balance_events b "
            "JOIN ingested_files f ON f.file_id = b.file_id WHERE b.transaction_id = :tx"), {"tx": TWICE}).one()
        repeats = conn.execute(text(
            "SELECT c.kind, c.ts, c.detail, f.path FROM transaction_conflicts c "
            "JOIN ingested_files f ON f.file_id = c.file_id")).all()
        breaks = conn.execute(text("SELECT COUNT(*) FROM balance_events WHERE is_continuity_break")).scalar_one()
        balance = conn.execute(text("SELECT balance FROM user_balances WHERE user_id = :u"), {"u": USER}).scalar_one()
        counted = dict(conn.execute(text("SELECT path, count_transactions FROM ingested_files")).all())
    assert applied == (_ts(FIRST_AT + SYNC_AFTER), "8", "42", str(first / "000000.gz"))
    detail = None if content == "identical" else json.dumps(
        {"amount_text": {"first": "8", "again": "9"}, "new_balance_text": {"first": "42", "again": "41"},
         "payment_balance_text": {"first": "42", "again": "41"}})
    assert repeats == [(content[:-1].replace("identica", "duplicate").replace("conflictin", "conflict"),
                        _ts(AGAIN_AT + SYNC_AFTER), detail, str(again / "000000.gz"))]
    assert breaks == 0 and balance == 34_000_000  # micro-units: BHD 34.000
    assert counted == {str(first / "000000.gz"): 3, str(again / "000000.gz"): 0}

    run([str(root)], make_settings(DATABASE_URL=reference_url))
    problems = dbsnap.describe_difference(_snapshot(settings.database_url), _snapshot(reference_url),
                                          split, "one run in a fresh database")
    assert not problems, "\n".join(problems)


THREE = {"a": (TWICE, FIRST_AT, "DEBIT", "8", "50", "42"),  # logged first: applied
         "b": (TWICE, FIRST_AT + timedelta(minutes=1), "DEBIT", "9", "50", "41"),  # a conflict
         "c": (TWICE, FIRST_AT + timedelta(minutes=2), "DEBIT", "8", "50", "42")}  # a duplicate of a, not of b


@pytest.mark.parametrize("order", ["abc", "acb", "bac", "bca", "cab", "cba"])
def test_three_copies_in_three_runs_in_any_order(tmp_path, make_settings, reference_url, order):
    """Each run may bring a copy logged before the applied one: the copies already recorded as conflicts are
    compared again with the new applied copy (c conflicts with b, but is a duplicate of a)."""
    root = tmp_path / "export"
    folders = {name: stream(root, tail * 32, [THREE[name]], n)
               for n, (name, tail) in enumerate(zip("abc", "fe0"), start=1)}  # c's stream sorts first
    settings = make_settings()
    for name in order:
        run([str(folders[name])], settings, transform=False)
    with make_engine(settings.database_url).connect() as conn:
        applied = conn.execute(text("SELECT amount_text, line_no FROM balance_events")).all()
        repeats = conn.execute(text("SELECT f.stream_name, c.kind, c.detail FROM transaction_conflicts c "
                                    "JOIN ingested_files f ON f.file_id = c.file_id ORDER BY c.kind")).all()
        counted = dict(conn.execute(text("SELECT stream_name, count_transactions FROM ingested_files")).all())
    assert applied == [("8", 5)]
    b_differs = {"amount_text": {"first": "8", "again": "9"}, "new_balance_text": {"first": "42", "again": "41"},
                 "payment_balance_text": {"first": "42", "again": "41"}}
    assert repeats == [(folders["b"].name, "conflict", json.dumps(b_differs)), (folders["c"].name, "duplicate", None)]
    assert counted == {folders["a"].name: 1, folders["b"].name: 0, folders["c"].name: 0}
    run([str(root)], make_settings(DATABASE_URL=reference_url), transform=False)
    problems = dbsnap.describe_difference(_snapshot(settings.database_url), _snapshot(reference_url),
                                          f"runs {order}", "one run in a fresh database")
    assert not problems, "\n".join(problems)
