"""`--full-refresh` and the question "are the derived tables current?", on both backends.

A refresh deletes every ingested row, and SQLite then hands out the same file ids again: the rebuild check
must not be fooled by that (it once compared the count and the highest file id, and left the derived
columns of balance_events NULL, or describing the data before an edit). The answer comes from the ingest
generation (db/generation.py), which only grows.
"""
from __future__ import annotations

import gzip

import pytest
from sqlalchemy import text

from db.engine import make_engine
from pipeline import run
from tests import pg
from tests.dbsnap import describe_difference, snapshot
from tests.test_ingest_run import EXAMPLES, export

EDITED_TX = "01HPJ4BT09Y3GYQQZD1XFEGDHT"  # the first sync block of the examples: 24.4 - 8 = 16.4
EDITED_USER = "df06a87e-a8bd-4aa4-b6f0-c16c1be9bb02"
DERIVED = ("net_change", "expected_new_balance", "calc_difference", "is_calc_mismatch", "user_seq",
           "is_continuity_break", "is_overdraft_actual", "is_overdraft_expected", "is_overdraft_crossing")


@pytest.fixture
def fresh_url(request, database_url, tmp_path):
    """A second empty database on the same backend: what a first ingest of the same input gives."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with pg.throwaway_database(request.getfixturevalue("pg_server")) as url:
        yield url


def derived(url: str) -> dict[str, list[tuple]]:
    """Everything but the bookkeeping, derived tables and the derived columns of balance_events included."""
    return snapshot(url)


def nulls_in_derived_columns(url: str) -> int:
    where = " OR ".join(f"{c} IS NULL" for c in DERIVED)
    with make_engine(url).connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM balance_events WHERE {where}")).scalar_one()


def edit_new_balance(folder) -> None:
    gz = next(folder.rglob("000000.gz"))
    edited = EXAMPLES.read_text().replace("newBalance: 16.4", "newBalance: 17.4", 1)
    assert edited != EXAMPLES.read_text()
    gz.write_bytes(gzip.compress(edited.encode()))


def test_full_refresh_of_unchanged_input_rebuilds_the_same_derived_tables(tmp_path, make_settings):
    settings = make_settings()
    folder = export(tmp_path)
    run([str(folder)], settings)
    before = derived(settings.database_url)
    assert before["balance_events"] and nulls_in_derived_columns(settings.database_url) == 0
    again = run([str(folder)], settings, full_refresh=True)
    assert "skipped" not in again.transform, again.transform
    assert nulls_in_derived_columns(settings.database_url) == 0
    assert describe_difference(before, derived(settings.database_url), "before", "after the refresh") == []
    # nothing new since: current, not rebuilt
    assert run([str(folder)], settings).transform == {"skipped": "current"}


def test_full_refresh_of_edited_input_describes_the_new_data(tmp_path, make_settings, fresh_url):
    settings = make_settings()
    folder = export(tmp_path)
    run([str(folder)], settings)
    edit_new_balance(folder)
    run([str(folder)], settings, full_refresh=True)
    with make_engine(settings.database_url).connect() as conn:
        balance = conn.execute(text("SELECT balance FROM user_balances WHERE user_id = :u"), {"u": EDITED_USER})
        mismatch = conn.execute(text("SELECT new_balance, calc_difference, is_calc_mismatch FROM balance_events "
                                     "WHERE transaction_id = :t"), {"t": EDITED_TX}).one()
        assert balance.scalar_one() == 17_400_000
    assert (mismatch[0], abs(mismatch[1]), bool(mismatch[2])) == (17_400_000, 1_000_000, True)
    assert nulls_in_derived_columns(settings.database_url) == 0
    # the same as a first ingest of the edited input into an empty database
    run([str(folder)], make_settings(DATABASE_URL=fresh_url))
    assert describe_difference(derived(fresh_url), derived(settings.database_url), "fresh", "refreshed") == []


def test_a_load_without_transforms_leaves_the_next_run_to_rebuild(tmp_path, make_settings):
    settings = make_settings()
    folder = export(tmp_path)
    run([str(folder)], settings)
    (tmp_path / "more.log").write_text(EXAMPLES.read_text().replace("01HPJ4BT09Y3GYQQZD1XFEGDHT", "01HNEWTX", 1))
    run([str(tmp_path / "more.log")], settings, transform=False)
    summary = run([str(folder)], settings)  # nothing new itself, but the last load was not built
    assert "skipped" not in summary.transform
    with make_engine(settings.database_url).connect() as conn:
        assert conn.execute(text("SELECT user_seq FROM balance_events WHERE transaction_id = '01HNEWTX'")).scalar() \
               is not None


def test_transforms_that_changed_rebuild_though_no_log_or_setting_did(tmp_path, make_settings):
    """A new version of the project whose transform SQL changed must not serve tables of the old shape."""
    from transform import state
    settings = make_settings()
    run([str(export(tmp_path))], settings)
    engine = make_engine(settings.database_url)
    assert state.is_current(engine, settings)
    with engine.begin() as conn:  # as an older version of transform/ would have recorded it
        built = conn.execute(text("SELECT value FROM transform_state WHERE key = 'fingerprint'")).scalar_one()
        assert f"code={state.code_version()};" in built
        conn.execute(text("UPDATE transform_state SET value = :v WHERE key = 'fingerprint'"),
                     {"v": built.replace(f"code={state.code_version()};", "code=0123456789abcdef;")})
    assert not state.is_current(engine, settings)
    summary = run([str(tmp_path / "export")], settings)  # no new file: only the code changed
    assert summary.transform and "skipped" not in summary.transform and state.is_current(engine, settings)
    engine.dispose()


def test_the_code_version_follows_every_transform_file(tmp_path):
    from transform import state
    copy = tmp_path / "transform"
    copy.mkdir()
    for path in state.HERE.rglob("*.sql"):
        target = copy / path.relative_to(state.HERE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    before = state.code_version.__wrapped__(copy)
    (copy / "discrepancy_report.sql").write_text((copy / "discrepancy_report.sql").read_text() + "\n")
    assert state.code_version.__wrapped__(copy) != before
