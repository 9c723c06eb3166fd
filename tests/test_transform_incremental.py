"""An incremental build gives exactly what a full build gives, row for row, ids included.

Each test ingests an export in several runs, builds incrementally after each (transform/scope.py), and
compares every derived table and the derived columns of balance_events with a full build of the same
database. Random corpora come from the sample generator with every detector and discrepancy case injected
(redelivered and conflicting copies among them), split into random runs: a user's later transactions may
arrive before the earlier ones, and a copy logged first may arrive after the one applied so far.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import text

import settings as settings_mod
from db.engine import make_engine
from pipeline import run
from sample import generate
from transform import build_all
from transform.tables import PUBLIC_TABLES

COMPARED = PUBLIC_TABLES + ("balance_events", "amount_groups", "ref_currencies", "ref_tz_offsets", "ref_action_checks")


def derived(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: sorted((tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))), key=repr)
                    for t in COMPARED}
    finally:
        engine.dispose()


def full_build_of_a_copy(url: str, settings, tmp_path: Path) -> dict[str, list[tuple]]:
    """A full build of a copy of the SQLite database at `url` (the original keeps its incremental history)."""
    copy = tmp_path / f"full-{len(list(tmp_path.glob('full-*')))}.db"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    copy_url = f"sqlite:///{copy}"
    engine = make_engine(copy_url)
    try:
        result = build_all(engine, settings_mod.load(env_file=os.devnull, DATABASE_URL=copy_url), mode="full")
    finally:
        engine.dispose()
    assert result["build"].startswith("full")
    return derived(copy_url)


def assert_same(incremental: dict, full: dict) -> None:
    for table in COMPARED:
        only_incremental = set(incremental[table]) - set(full[table])
        only_full = set(full[table]) - set(incremental[table])
        assert not only_incremental and not only_full and len(incremental[table]) == len(full[table]), (
            f"{table}: {len(only_incremental)} rows only in the incremental build, e.g. "
            f"{sorted(only_incremental, key=repr)[:2]}; {len(only_full)} only in the full build, e.g. "
            f"{sorted(only_full, key=repr)[:2]}")


def ingest_in_runs(runs: list[list[Path]], settings, reads: list | None = None) -> list[str]:
    """Ingest each run, then build incrementally; the builds' descriptions (and in `reads` how each incremental
    build read the changed users' transactions: transform.scope.SEEK or SCAN, from open_scope)."""
    from transform import scope
    from transform.params import from_settings
    builds, params = [], from_settings(settings)
    engine = make_engine(settings.database_url)
    try:
        for paths in runs:
            run([str(p) for p in paths], settings, transform=False, workers=0)
            if reads is not None:  # how the build will read them, in a transaction rolled back
                with engine.connect() as conn:
                    if scope.decide(conn, params, "incremental").incremental:
                        reads.append(scope.open_scope(conn, params))
                    conn.rollback()
            builds.append(build_all(engine, settings, mode="incremental")["build"])
    finally:
        engine.dispose()
    return builds


def incremental_then_full(runs: list[list[Path]], settings, reads: list | None = None) -> tuple[dict, dict]:
    """The runs ingested with an incremental build after each (the first is full): the derived tables then, and
    after a full build of the same database (`reads`: as for ingest_in_runs)."""
    builds = ingest_in_runs(runs, settings, reads)
    assert all(b.startswith("incremental") for b in builds[1:]), builds
    incremental = derived(settings.database_url)
    return incremental, full_build(settings)


def full_build(settings) -> dict[str, list[tuple]]:
    """The derived tables after a full build of the database."""
    engine = make_engine(settings.database_url)
    try:
        build_all(engine, settings, mode="full")
    finally:
        engine.dispose()
    return derived(settings.database_url)


def streams_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*") if p.is_dir())


def test_a_day_at_a_time_equals_a_full_build(realistic_dir, make_settings, tmp_path):
    """The realistic export in chronological runs, as the scheduler ingests it, on both backends."""
    settings = make_settings()
    streams = streams_of(Path(realistic_dir))
    days = sorted({p.name[:10] for p in streams})
    # the first two thirds at once but their first week, which comes late (its users' changes are before their
    # stored transactions: they are read whole), then a few days at a time
    cut, first_week = days[len(days) * 2 // 3], days[:7]
    runs = [[p for p in streams if first_week[-1] < p.name[:10] < cut],
            [p for p in streams if p.name[:10] in first_week]]
    later = [d for d in days if d >= cut]
    # a week at a time, and the last streams one by one: many users (read in one pass) and few (read by seeks)
    runs += [[p for p in streams if p.name[:10] in later[i:i + 7]] for i in range(0, len(later), 7)]
    runs[-1:] = [runs[-1][:-3]] + [[p] for p in runs[-1][-3:]]
    reads = []
    builds = ingest_in_runs([r for r in runs if r], settings, reads)
    assert builds[0] == "full (no earlier build)"
    assert all(b.startswith("incremental") for b in builds[1:]), builds
    assert {"seek", "scan"} <= set(reads), reads
    incremental = derived(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        assert build_all(engine, settings, mode="full")["build"] == "full (asked for a full build)"
    finally:
        engine.dispose()
    assert_same(incremental, derived(settings.database_url))
    assert incremental["discrepancy_report"] and incremental["anomalies"] and incremental["balance_rollforward"]


def random_runs(base: Path, seed: int, data) -> list[list[Path]]:
    """A sample corpus of the seed, every detector and discrepancy case injected, its streams dealt at random
    into 2 to 4 runs (a run may get none). Its four days straddle the turn of a month, so that a run whose
    changes are all in the new month leaves out, of what an incremental build reads, the transactions of the
    month before that no step needs (transform/scope_users.sql)."""
    export = base / "export"
    generate(export, days=4, users=40, seed=seed, start="2024-01-31", workers=1, truth=base / "truth.csv")
    streams = streams_of(export)
    count = data.draw(st.integers(min_value=2, max_value=4), label="runs")
    where = data.draw(st.lists(st.integers(min_value=0, max_value=count - 1), min_size=len(streams),
                               max_size=len(streams)), label="run of each stream")
    return [[p for p, r in zip(streams, where) if r == n] for n in range(count)]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=10_000), data=st.data())
def test_random_runs_of_random_corpora_equal_a_full_build(tmp_path_factory, seed, data):
    base = tmp_path_factory.mktemp("incremental")
    runs = random_runs(base, seed, data)
    url = f"sqlite:///{base / 'incremental.db'}"
    settings_ = settings_mod.load(env_file=os.devnull, DATABASE_URL=url)
    engine = make_engine(url)
    try:
        for n, paths in enumerate(runs):
            if paths:  # (a run may bring nothing: the build then has nothing to do)
                run([str(p) for p in paths], settings_, transform=False, workers=0)
            result = build_all(engine, settings_, mode="incremental")
            assert result["build"].startswith("incremental" if n else "full"), result["build"]
            assert_same(derived(url), full_build_of_a_copy(url, settings_, base))
    finally:
        engine.dispose()


@pytest.mark.postgres
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=10_000), data=st.data())
def test_random_runs_of_random_corpora_equal_a_full_build_on_postgresql(pg_server, tmp_path_factory, seed, data):
    """The same on PostgreSQL, compared once, after the last run (a full build of the same database)."""
    from tests import pg
    runs = random_runs(tmp_path_factory.mktemp("incremental-pg"), seed, data)
    with pg.throwaway_database(pg_server) as url:
        settings_ = settings_mod.load(env_file=os.devnull, DATABASE_URL=url)
        builds = ingest_in_runs([r for r in runs if r], settings_)
        assert all(b.startswith("incremental") for b in builds[1:]), builds
        incremental = derived(url)
        engine = make_engine(url)
        try:
            build_all(engine, settings_, mode="full")
        finally:
            engine.dispose()
        assert_same(incremental, derived(url))


def _sync_file(folder: Path, blocks: list[tuple]) -> Path:
    """One stream of invocations, each syncing one transaction: (n, transaction, user, time, amount, old, new)."""
    from tests.test_ingest_redelivery import USER, invocation
    folder.mkdir(parents=True)
    text_ = "".join(invocation(n, tx, at, "DEBIT", amount, old, new).replace(USER, user)
                    for n, tx, user, at, amount, old, new in blocks)
    (folder / "000000.gz").write_bytes(__import__("gzip").compress(text_.encode()))
    return folder


def test_what_an_incremental_build_reads_of_the_months_before_the_change(make_settings, tmp_path):
    """An incremental build reads, of a changed user's transactions before the change, only those some step needs
    (transform/scope_users.sql). Each user here has January transactions that the month of the change (February)
    leaves out, and a reason for some step to read them: the whole ledger of a test account, of a user seen in
    two currencies, of one whose new transaction is in another currency, and of one whose new transaction comes
    before a stored one; a same-amount debit 47 hours before the change, within RAPID_DEDUCTION_SECONDS; and the
    transactions without a user, all of which it reads."""
    from datetime import datetime, timedelta, timezone
    from tests.test_ingest_redelivery import USER, invocation
    test, multi, switch, late, rapid = ("random-uuid", *(f"00000000-0000-4000-8000-00000000000{n}" for n in range(4)))
    jan, feb = datetime(2024, 1, 10, 9, 0, tzinfo=timezone.utc), datetime(2024, 2, 20, 9, 0, tzinfo=timezone.utc)

    def stream(folder: Path, blocks: list[tuple]) -> Path:  # (n, transaction, user, time, currency, amount, old, new)
        folder.mkdir(parents=True)
        text_ = "".join(invocation(n, tx, at, "DEBIT", amount, old, new)
                        .replace(f"    userId: '{USER}',\n" if user is None else USER, "" if user is None else user)
                        .replace("currency: 'BHD'", f"currency: '{currency}'")
                        for n, tx, user, at, currency, amount, old, new in blocks)
        (folder / "000000.gz").write_bytes(__import__("gzip").compress(text_.encode()))
        return folder

    # each user's last transaction before the change is on 10 January (31 January for the rapid debits), and the
    # one before it more than RAPID_DEDUCTION_SECONDS earlier
    early, jan31 = jan - timedelta(days=8), datetime(2024, 1, 31, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = stream(group / "2024-01-10-[$LATEST]first", [
        (1, "TX-T1", test, early, "BHD", "5", "100", "95"), (2, "TX-T2", test, jan, "BHD", "5", "95", "90"),
        (3, "TX-M1", multi, early, "SAR", "5", "100", "95"), (4, "TX-M2", multi, jan, "BHD", "5", "95", "90"),
        (5, "TX-S0", switch, early, "BHD", "5", "100", "95"), (6, "TX-S1", switch, jan, "BHD", "5", "95", "90"),
        (7, "TX-L0", late, early, "BHD", "5", "100", "95"), (8, "TX-L1", late, jan, "BHD", "5", "95", "90"),
        (9, "TX-L3", late, feb, "BHD", "5", "89", "84"),
        (10, "TX-R1", rapid, early, "BHD", "5", "100", "95"), (11, "TX-R2", rapid, jan31, "BHD", "7", "95", "88"),
        (17, "TX-N1", None, jan, "BHD", "5", "100", "95")])
    second = stream(group / "2024-02-20-[$LATEST]second", [
        (12, "TX-T3", test, feb, "BHD", "5", "90", "85"), (13, "TX-M3", multi, feb, "BHD", "5", "90", "85"),
        (14, "TX-S2", switch, feb, "SAR", "5", "90", "85"),
        (15, "TX-L2", late, feb - timedelta(days=5), "BHD", "1", "90", "89"),
        (16, "TX-R3", rapid, jan31 + timedelta(days=1, hours=23), "BHD", "7", "88", "81"),
        (18, "TX-N2", None, feb, "BHD", "5", "95", "90")])
    settings = make_settings(RAPID_DEDUCTION_SECONDS=str(3 * 86_400))
    incremental, full = incremental_then_full([[first], [second]], settings)
    assert {(row[2], row[4]) for row in full["anomalies"]} >= {
        ("test_user", test), ("multi_currency", multi), ("multi_currency", switch), ("rapid_deduction", rapid)}
    counts = {row[0]: row[7] for row in full["user_balances"]}  # count_transactions
    assert (counts[late], counts[switch]) == (4, 3)
    assert sum(1 for row in full["balance_events"] if row[0] in ("TX-N1", "TX-N2") and row[4] is None) == 2
    assert_same(incremental, full)


def test_a_spike_is_judged_against_its_whole_group_though_the_run_reads_only_groups_that_can_hold_one(
        make_settings, tmp_path):
    """amount_spikes reads, in an incremental build, only the groups amount_groups says can hold a spike. Before the
    run none of these can: one user's eight debits are all equal, another has seven (fewer than
    AMOUNT_SPIKE_MIN_SAMPLES), and a third's nine equal ones include one after the time of the new debit, which
    comes late (that user's groups are counted again). The run brings each a debit four times the others."""
    from datetime import datetime, timedelta, timezone
    equal, few, late = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
    at = datetime(2024, 2, 1, 9, 0, tzinfo=timezone.utc)
    day = timedelta(days=1)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    before = [(user, i) for user, days in ((equal, range(8)), (few, range(7)), (late, (*range(8), 9))) for i in days]
    first = _sync_file(group / "2024-02-01-[$LATEST]first", [
        (n, f"TX-{user[-1]}-{i}", user, at + i * day, "5", "100", "95") for n, (user, i) in enumerate(before, 1)])
    second = _sync_file(group / "2024-02-11-[$LATEST]second", [
        (90, "TX-1-spike", equal, at + 10 * day, "20", "100", "80"),
        (91, "TX-2-spike", few, at + 10 * day, "20", "100", "80"),
        (92, "TX-3-spike", late, at + 8 * day + timedelta(hours=1), "20", "100", "80")])
    incremental, full = incremental_then_full([[first], [second]], make_settings())
    spikes = {row[6] for row in full["anomalies"] if row[2] == "amount_spike"}  # transaction_id
    assert spikes == {"TX-1-spike", "TX-2-spike", "TX-3-spike"}
    assert {row[0]: row[4] for row in full["amount_groups"]} == {equal: 9, few: 8, late: 10}  # count_amounts
    assert_same(incremental, full)


def test_a_break_resolved_before_the_run_still_counts_towards_frequent_discrepancies(make_settings, tmp_path):
    """A calculation break resolved before the run is the user's last discrepant transaction before it, so
    frequent_discrepancies' window starts at it: with the run's two breaks it makes three within the window."""
    from datetime import datetime, timedelta, timezone
    user = "00000000-0000-4000-8000-000000000001"
    at, day = datetime(2024, 2, 1, 9, 0, tzinfo=timezone.utc), timedelta(days=1)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-01-02-[$LATEST]first", [
        (1, "TX-0", user, at - 30 * day, "5", "100", "95"),
        (2, "TX-1", user, at, "5", "95", "85"),  # 5 more than the debit: a calculation break
        (3, "TX-2", user, at + day, "5", "85", "80")])  # resolves it
    second = _sync_file(group / "2024-02-03-[$LATEST]second", [
        (4, "TX-3", user, at + 2 * day, "5", "80", "70"), (5, "TX-4", user, at + 3 * day, "5", "70", "60")])
    settings = make_settings(FREQUENT_DISCREPANCY_COUNT="3", FREQUENT_DISCREPANCY_DAYS="7",
                             RAPID_DEDUCTION_SECONDS="60")
    incremental, full = incremental_then_full([[first], [second]], settings)
    assert [(row[0], row[2]) for row in full["discrepancy_report"]] == [
        ("calculation:TX-1", "resolved"), ("calculation:TX-3", "open"), ("calculation:TX-4", "open")]
    assert [row[6] for row in full["anomalies"] if row[2] == "frequent_discrepancies"] == ["TX-4"]
    assert_same(incremental, full)


def test_a_finding_that_moves_earlier_takes_the_ids_after_it_with_it(make_settings, tmp_path):
    """test_user finds a test account on its first transaction. A later run brings one test account an earlier
    first transaction and nothing else that finds anything: its finding moves before the other account's, so both
    ids change, and the finding's time, transaction and line are the new ones."""
    from datetime import datetime, timedelta, timezone
    one, two = "tester-one", "tester-two"  # not shaped like a UUID: test accounts
    at, hour = datetime(2024, 2, 1, 9, 0, tzinfo=timezone.utc), timedelta(hours=1)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-02-01-[$LATEST]first", [
        (1, "TX-TWO", two, at, "5", "100", "95"), (2, "TX-ONE", one, at + hour, "5", "100", "95")])
    earlier = _sync_file(group / "2024-02-01-[$LATEST]earlier", [(3, "TX-ONE-0", one, at - hour, "5", "105", "100")])
    settings = make_settings()
    builds = ingest_in_runs([[first]], settings)
    before = derived(settings.database_url)["anomalies"]
    assert [(row[0], row[6]) for row in before] == [(1, "TX-TWO"), (2, "TX-ONE")]  # anomaly_id, transaction_id
    builds += ingest_in_runs([[earlier]], settings)
    assert builds[1].startswith("incremental"), builds
    incremental, full = derived(settings.database_url), full_build(settings)
    assert [(row[0], row[6]) for row in full["anomalies"]] == [(1, "TX-ONE-0"), (2, "TX-TWO")]
    assert_same(incremental, full)


def test_a_copy_logged_first_moves_a_transaction_to_another_user_and_day(make_settings, tmp_path):
    """The copy applied so far (user B, a day later) gives way to one logged earlier (user A): both users' and
    both days' rows change, though the second run brings nothing of user B's and nothing of that day."""
    from datetime import datetime, timedelta, timezone
    a, b, c = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    late = _sync_file(group / "2024-02-14-[$LATEST]late", [
        (1, "TX-B1", b, at - timedelta(hours=1), "5", "100", "95"),
        (2, "TX-TWICE", b, at + timedelta(days=1), "7", "95", "88"),
        (3, "TX-C1", c, at + timedelta(days=1, hours=1), "1", "10", "9")])
    early = _sync_file(group / "2024-02-13-[$LATEST]early", [
        (4, "TX-TWICE", a, at, "7", "50", "43"),
        (5, "TX-A2", a, at + timedelta(hours=2), "3", "43", "40")])
    settings = make_settings()
    builds = ingest_in_runs([[late], [early]], settings)
    assert builds[1].startswith("incremental"), builds
    incremental = derived(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        build_all(engine, settings, mode="full")
        with engine.connect() as conn:
            users = dict(conn.execute(text("SELECT user_id, count_transactions FROM user_balances")).all())
    finally:
        engine.dispose()
    assert users == {a: 2, b: 1, c: 1}
    assert_same(incremental, derived(settings.database_url))


def test_a_currency_only_a_replaced_copy_had_leaves_ref_currencies(make_settings, tmp_path):
    """An incremental build looks for new currencies on the changed days alone: USD (a currency no setting names)
    comes with the second run. Its one transaction is a copy that gives way, in the third, to one logged earlier
    in BHD: no transaction has USD any more, and the build lets go of a stored currency no transaction has."""
    import gzip
    from datetime import datetime, timedelta, timezone
    a = "00000000-0000-4000-8000-000000000001"
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    late = _sync_file(group / "2024-02-14-[$LATEST]late", [(1, "TX-TWICE", a, at + timedelta(days=1), "7", "50", "43")])
    body = gzip.decompress((late / "000000.gz").read_bytes()).decode()
    (late / "000000.gz").write_bytes(gzip.compress(body.replace("currency: 'BHD'", "currency: 'USD'").encode()))
    early = _sync_file(group / "2024-02-13-[$LATEST]early", [(2, "TX-TWICE", a, at, "7", "50", "43")])
    before = _sync_file(group / "2024-02-12-[$LATEST]before", [(3, "TX-0", a, at - timedelta(days=1), "5", "55", "50")])
    settings = make_settings()
    builds = ingest_in_runs([[before], [late]], settings)  # USD comes with an incremental build
    assert builds[1].startswith("incremental"), builds
    assert "USD" in [row[0] for row in derived(settings.database_url)["ref_currencies"]]
    builds += ingest_in_runs([[early]], settings)
    assert builds[2].startswith("incremental"), builds
    incremental = derived(settings.database_url)
    assert "USD" not in [row[0] for row in incremental["ref_currencies"]]
    assert_same(incremental, full_build(settings))


def test_an_error_on_an_earlier_transaction_reopens_its_episode(make_settings, tmp_path):
    """A later run brings the user a new transaction and a copy of an old one logged again with a not-in-sync
    error: the old transaction, before the new one, is now out of sync, so the build derives the user's rows again
    from it (the loader notes the earliest point it touched, db/pending.py), not from the new transaction. Another
    user's many transactions make the run read the user's few by seeks, which look up each one's errors."""
    from datetime import datetime, timedelta, timezone
    from tests.test_ingest_redelivery import USER, invocation
    a, b = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-02-13-[$LATEST]first", [
        (1, "TX-1", a, at, "5", "100", "95"), (2, "TX-2", a, at + timedelta(hours=1), "5", "95", "90")])
    bystander = _sync_file(group / "2024-02-13-[$LATEST]bystander", [
        (10 + i, f"TX-B{i}", b, at + timedelta(minutes=i), "5", str(1000 - 5 * i), str(995 - 5 * i))
        for i in range(40)])
    again = invocation(3, "TX-1", at + timedelta(hours=2), "DEBIT", "5", "100", "95").replace(USER, a)
    end = again.index(" END RequestId")
    error_at = (at + timedelta(hours=2, milliseconds=350)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    request = "405bb962-f57b-521d-81a1-000000000003"
    again = (again[:end - 24] + f"{error_at} {error_at}\t{request}\tERROR\tSubscription balance and payment "
             f"balance are not in sync {{\n  userId: '{a}',\n  subscriptionBalance: 95,\n  paymentBalance: 90\n}}"
             "\n\n" + again[end - 24:])
    later = group / "2024-02-14-[$LATEST]later"
    _sync_file(later, [(4, "TX-3", a, at + timedelta(days=1), "5", "90", "85")])
    (later / "000001.gz").write_bytes(__import__("gzip").compress(again.encode()))
    reads = []
    incremental, full = incremental_then_full([[first, bystander], [later]], make_settings(), reads)
    assert reads == ["seek"]
    assert [(row[0], row[2]) for row in full["discrepancy_transactions"]] == [
        ("out_of_sync:TX-1", "out_of_sync"), ("out_of_sync:TX-1", "resolving")]
    assert_same(incremental, full)


def test_an_episode_open_at_the_last_build_goes_on_or_is_resolved(make_settings, tmp_path):
    """The nightly batch's case: a user's last transaction was out of sync, and the next run brings a later one.
    The build derives the new rows only, and they continue the stored episode (its id, the next position) or
    resolve it."""
    from datetime import datetime, timedelta, timezone
    b, c = "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"

    def apart(folder: Path) -> Path:  # every transaction's wallet printed 1 short of its balance
        path = folder / "000000.gz"
        body = __import__("gzip").decompress(path.read_bytes()).decode()
        body = __import__("re").sub(r"paymentBalance: (\d+)", lambda m: f"paymentBalance: {int(m[1]) - 1}", body)
        path.write_bytes(__import__("gzip").compress(body.encode()))
        return folder
    first = apart(_sync_file(group / "2024-02-13-[$LATEST]first", [
        (1, "TX-B1", b, at, "5", "100", "95"), (2, "TX-C1", c, at, "5", "50", "45"),
        (3, "TX-C2", c, at + timedelta(hours=1), "5", "45", "40")]))
    next_day = at + timedelta(days=1)
    resolved = _sync_file(group / "2024-02-14-[$LATEST]resolved", [(4, "TX-B2", b, next_day, "5", "95", "90")])
    still = apart(_sync_file(group / "2024-02-14-[$LATEST]still", [(5, "TX-C3", c, next_day, "5", "40", "35")]))
    incremental, full = incremental_then_full([[first], [resolved, still]], make_settings())
    assert sorted(row[:4] for row in full["discrepancy_transactions"]) == [
        ("out_of_sync:TX-B1", 1, "out_of_sync", "TX-B1"), ("out_of_sync:TX-B1", 2, "resolving", "TX-B2"),
        ("out_of_sync:TX-C1", 1, "out_of_sync", "TX-C1"), ("out_of_sync:TX-C1", 2, "out_of_sync", "TX-C2"),
        ("out_of_sync:TX-C1", 3, "out_of_sync", "TX-C3")]
    assert_same(incremental, full)


def test_the_next_run_continues_from_the_balance_a_refused_transaction_left(make_settings, tmp_path):
    """The last transaction a build saw was refused (the negative-balance guard): the balance the next run's
    transactions continue from is its old balance, not the new one it printed."""
    import gzip
    from datetime import datetime, timedelta, timezone
    a = "00000000-0000-4000-8000-000000000001"
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-02-13-[$LATEST]first", [
        (1, "TX-1", a, at, "5", "100", "95"), (2, "TX-2", a, at + timedelta(hours=1), "100", "95", "-5")])
    path = first / "000000.gz"
    request = "405bb962-f57b-521d-81a1-000000000002"
    published = f"\t{request}\tINFO\tSubscriptionBalanceUpdated event published"
    guard = (f"\t{request}\tINFO\t{{\n  message: 'Subscriber will have a negative balance due to this action, the "
             f"process will terminate.',\n  data: {{\n    transactionId: 'TX-2',\n    userId: '{a}',\n"
             f"    currentBalance: 95,\n    newBalance: -5\n  }}\n}}")
    body = gzip.decompress(path.read_bytes()).decode()
    assert body.count(published) == 1
    path.write_bytes(gzip.compress(body.replace(published, guard).encode()))
    later = _sync_file(group / "2024-02-14-[$LATEST]later", [(3, "TX-3", a, at + timedelta(days=1), "5", "95", "90")])
    settings = make_settings()
    incremental, full = incremental_then_full([[first], [later]], settings)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            ledger = conn.execute(text("SELECT transaction_id, user_seq, prev_new_balance, is_continuity_break "
                                       "FROM balance_events ORDER BY user_seq")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in ledger] == [
        ("TX-1", 1, None, False), ("TX-2", 2, 95_000_000, False), ("TX-3", 3, 95_000_000, False)]
    assert_same(incremental, full)


def test_the_roll_forward_keeps_the_months_before_the_first_change_in_any_business_time_zone(make_settings, tmp_path):
    """The roll-forward derives each changed user's months from the first one a change can be in, and keeps the
    rows before it. West of UTC a transaction logged early on the 1st belongs to the month before: that month
    changes too. The next month then opens at the kept month's closing."""
    from datetime import datetime, timezone
    a = "00000000-0000-4000-8000-000000000001"
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-04-20-[$LATEST]first", [
        (1, "TX-1", a, datetime(2024, 4, 20, 12, tzinfo=timezone.utc), "5", "100", "95"),
        (2, "TX-2", a, datetime(2024, 5, 20, 12, tzinfo=timezone.utc), "5", "95", "90")])
    # 02:00 and 03:00 UTC on 1 June: 31 May in business time
    later = _sync_file(group / "2024-06-01-[$LATEST]later", [
        (3, "TX-3", a, datetime(2024, 6, 1, 2, tzinfo=timezone.utc), "5", "90", "85")])
    last = _sync_file(group / "2024-06-01-[$LATEST]last", [
        (4, "TX-4", a, datetime(2024, 6, 1, 3, tzinfo=timezone.utc), "5", "80", "75"),
        (5, "TX-5", a, datetime(2024, 6, 2, 12, tzinfo=timezone.utc), "5", "75", "70")])
    incremental, full = incremental_then_full([[first], [later], [last]], make_settings(BUSINESS_TZ="-05:00"))
    # (user, currency, month, opening, first seen, credits, debits, ..., continuity gaps, closing, count, new user)
    assert [(row[2], row[3], row[4], row[6], row[10], row[11], row[12], row[13])
            for row in full["balance_rollforward_users"]] == [
        ("2024-04", 0, 100_000_000, 5_000_000, 0, 95_000_000, 1, True),
        ("2024-05", 95_000_000, 0, 15_000_000, -5_000_000, 75_000_000, 3, False),
        ("2024-06", 75_000_000, 0, 5_000_000, 0, 70_000_000, 1, False)]
    assert_same(incremental, full)


def test_the_roll_forward_when_business_time_goes_back_across_the_start_of_a_month(make_settings, tmp_path):
    """St John's clocks went back from 00:01 on 1 November 2009 to 23:01 on 31 October: a transaction logged
    after one of 1 November belongs to October. Chains run month by month, so October's row takes it, and the
    run that brings it derives the user's months again from October on (the month of the day before its UTC
    date)."""
    from datetime import datetime, timezone
    a = "00000000-0000-4000-8000-000000000001"
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2009-10-20-[$LATEST]first", [
        (1, "TX-1", a, datetime(2009, 10, 20, 12, tzinfo=timezone.utc), "5", "100", "95"),
        (2, "TX-2", a, datetime(2009, 11, 1, 2, 30, 30, tzinfo=timezone.utc), "5", "95", "90")])  # 1 Nov, 00:00
    later = _sync_file(group / "2009-10-31-[$LATEST]later", [
        (3, "TX-3", a, datetime(2009, 11, 1, 2, 45, tzinfo=timezone.utc), "5", "90", "85")])  # 31 Oct, 23:15
    incremental, full = incremental_then_full([[first], [later]], make_settings(BUSINESS_TZ="America/St_Johns"))
    # (month, opening, debits, continuity gaps, closing, count)
    assert [(row[2], row[3], row[6], row[10], row[11], row[12]) for row in full["balance_rollforward_users"]] == [
        ("2009-10", 0, 10_000_000, -5_000_000, 85_000_000, 2), ("2009-11", 85_000_000, 5_000_000, 10_000_000,
                                                                90_000_000, 1)]
    assert_same(incremental, full)


def test_a_user_overdrawn_at_the_last_build_is_overdrawn_since_the_first_transaction_of_the_run(make_settings,
                                                                                                  tmp_path):
    """user_balances carries a user's stored row on when the next run brings later transactions only: a negative
    run that goes on began where the stored row says; one that ends and starts again begins in the new ones."""
    from datetime import datetime, timedelta, timezone
    a, b, c = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-02-13-[$LATEST]first", [
        (1, "TX-A1", a, at, "15", "10", "-5"), (2, "TX-B1", b, at, "15", "10", "-5"),
        (3, "TX-C1", c, at, "15", "10", "-5")])
    day = at + timedelta(days=1)
    later = _sync_file(group / "2024-02-14-[$LATEST]later", [
        (4, "TX-A2", a, day, "5", "-5", "-10"),  # the run goes on
        (5, "TX-B2", b, day, "-20", "-5", "15"), (6, "TX-B3", b, day + timedelta(hours=1), "20", "15", "-5"),
        (7, "TX-C2", c, day, "-20", "-5", "15")])  # back above zero
    incremental, full = incremental_then_full([[first], [later]], make_settings())
    # (user, balance, is_overdrawn, overdrawn_since, wallet_overdrawn_since)
    assert [(row[0][-1], row[2], row[13], (row[14] or "")[:10], (row[15] or "")[:10])
            for row in sorted(full["user_balances"])] == [
        ("1", -10_000_000, True, "2024-02-13", "2024-02-13"), ("2", -5_000_000, True, "2024-02-14", "2024-02-14"),
        ("3", 15_000_000, False, "", "")]
    assert_same(incremental, full)


def test_readers_see_the_previous_build_until_an_incremental_one_commits(make_settings, tmp_path):
    from datetime import datetime, timedelta, timezone
    a, b = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-02-13-[$LATEST]first", [(1, "TX-A1", a, at, "5", "100", "95"),
                                                              (2, "TX-B1", b, at, "5", "10", "5")])
    second = _sync_file(group / "2024-02-14-[$LATEST]second", [
        (3, "TX-A2", a, at + timedelta(days=1), "5", "95", "90"),
        (4, "TX-B2", b, at + timedelta(days=1), "5", "4", "-1")])  # a continuity break and an overdraft
    settings = make_settings()
    ingest_in_runs([[first]], settings)
    run([str(second)], settings, transform=False, workers=0)
    reader = make_engine(settings.database_url)
    writer = make_engine(settings.database_url)
    tables = PUBLIC_TABLES + ("balance_events",)

    def view() -> dict:
        with reader.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}"))), key=repr) for t in tables}
    before, seen = view(), []
    try:
        result = build_all(writer, settings, on_step=lambda step, seconds: seen.append(view()), mode="incremental")
        after = view()
    finally:
        reader.dispose()
        writer.dispose()
    assert result["build"].startswith("incremental")
    assert len(seen) > 5 and all(v == before for v in seen)
    assert after != before and len(after["discrepancy_report"]) > len(before["discrepancy_report"])


def test_the_run_summary_says_which_build_and_why(make_settings, tmp_path):
    from datetime import datetime, timedelta, timezone
    users = [f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 6)]
    at = datetime(2024, 2, 13, 9, 0, tzinfo=timezone.utc)
    group = tmp_path / "export" / "a3fb6cdb-607b-469f-8f8a-ec4792e827cb"
    first = _sync_file(group / "2024-02-13-[$LATEST]first", [
        (n, f"TX-{n}", user, at + timedelta(minutes=n), "5", "100", "95") for n, user in enumerate(users)])
    later = _sync_file(group / "2024-02-14-[$LATEST]later", [(9, "TX-9", users[0], at + timedelta(days=1), "5", "95", "90")])
    settings = make_settings()

    def build(paths, **options) -> str:
        summary = run([str(p) for p in paths], options.pop("settings", settings), workers=0, **options)
        return summary.transform.get("build") or summary.transform.get("skipped")
    assert build([first]) == "full (no earlier build)"
    assert build([first]) == "current"
    assert build([first, later]) == "incremental (1 user and 1 business day changed)"
    assert build([first], settings=make_settings(AMOUNT_SPIKE_THRESHOLD="4")) == (
        "full (a transform setting changed since the last build)")
    assert build([first, later], settings=make_settings(AMOUNT_SPIKE_THRESHOLD="4"), full_refresh=True) == (
        "full (the ingest tables were refreshed in full)")
