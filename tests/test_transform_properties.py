"""Property tests: consistent ledgers produce no calculation or continuity findings, and an injected
fault is found exactly where it was injected (and nowhere else); out-of-sync episodes partition the
out-of-sync transactions, the exposure is each user's current gap once, and the roll-forward ties out."""
from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.transform_ledger import LedgerDB, uid

MIL = Decimal("0.001")  # amounts in the sample have at most 3 decimals

transaction = st.tuples(
    st.sampled_from(["DEBIT", "CREDIT"]),
    st.integers(min_value=-2_000, max_value=500_000),  # amount in mils (negative amounts do occur)
    st.integers(min_value=0, max_value=50_000),  # vat in mils
    st.integers(min_value=2, max_value=200_000),  # seconds since the user's previous transaction
)
ledgers = st.lists(st.lists(transaction, min_size=1, max_size=8), min_size=1, max_size=3)
faults = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["calculation", "continuity"]), st.integers(min_value=0, max_value=99),
              st.integers(min_value=0, max_value=99),
              # the fault in mils: beyond the 0.001 tolerance, either sign
              st.integers(min_value=2, max_value=10_000_000).flatmap(lambda v: st.sampled_from([v, -v]))),
)


def build_rows(users, fault):
    """Per transaction: (id, user, ts, type, amount, vat, old, new) with the fault applied."""
    rows, clock = [], 1_709_000_000
    for u, txs in enumerate(users):
        balance, t = Decimal(1000), clock
        user_rows = []
        for n, (type_, amount, vat, gap) in enumerate(txs):
            t += gap
            amount, vat = amount * MIL, vat * MIL
            net = amount - vat
            new = balance - net if type_ == "DEBIT" else balance + net
            user_rows.append([f"T{u}_{n:02d}", uid(100 + u), t, type_, amount, vat, balance, new])
            balance = new
        rows.append(user_rows)
    target = None
    if fault is not None:
        kind, pick_user, pick_tx, delta_mils = fault
        user_rows = rows[pick_user % len(rows)]
        index = pick_tx % len(user_rows)
        if kind == "continuity" and index == 0:
            index = None if len(user_rows) == 1 else 1
        if index is not None:
            delta = delta_mils * MIL
            target = (kind, user_rows[index][0])
            for n, row in enumerate(user_rows):
                if n > index or (n == index and kind == "continuity"):
                    row[6] += delta  # old balance
                if n >= index:
                    row[7] += delta  # new balance
    return list(itertools.chain.from_iterable(rows)), target


def iso(seconds: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(users=ledgers, fault=faults)
def test_faults_are_found_exactly_where_injected(tmp_path_factory, users, fault):
    rows, target = build_rows(users, fault)
    db = LedgerDB(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    try:
        for tid, user, t, type_, amount, vat, old, new in rows:
            db.tx(tid, user, iso(t), type_, str(amount), str(vat), str(old), str(new))
        db.build()
        found = {(kind, tx) for kind, tx in db.query(
            "SELECT kind, first_transaction_id FROM discrepancy_report WHERE kind IN ('calculation', 'continuity')")}
        assert found == ({target} if target else set())
        gaps = {r[0] for r in db.query("SELECT transaction_id FROM anomalies WHERE detector = 'continuity_gap'")}
        assert gaps == ({target[1]} if target and target[0] == "continuity" else set())
        assert db.query("SELECT COUNT(*) FROM discrepancy_report WHERE kind = 'out_of_sync'") == [(0,)]
    finally:
        db.close()


# one user's transactions: (wallet minus balance in mils (0: in sync), a not-in-sync error, refused by the guard)
step = st.tuples(st.sampled_from([0, 0, 0, 5, -7, 3_000]), st.booleans(), st.sampled_from([False, False, False, True]))
histories = st.lists(st.lists(step, min_size=1, max_size=10), min_size=1, max_size=4)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(users=histories)
def test_episodes_partition_the_out_of_sync_transactions(tmp_path_factory, users):
    db = LedgerDB(f"sqlite:///{tmp_path_factory.mktemp('episodes') / 'e.db'}")
    expected_runs, exposure = [], {}
    try:
        for u, history in enumerate(users):
            user, balance, t, run, last_applied = uid(200 + u), Decimal(100), 1_709_000_000, None, None
            currency = ("BHD", "SAR")[u % 2]
            for n, (wallet_gap, error, refused) in enumerate(history):
                tid, t = f"U{u}_{n:02d}", t + 3600
                new = balance - 1
                db.tx(tid, user, iso(t), "DEBIT", "1", "0", str(balance), str(new),
                      payment=str(new + wallet_gap * MIL), currency=currency,
                      outcome="refused_negative_balance" if refused else None)
                if error:
                    db.not_in_sync(tid, user, iso(t), str(new), str(new + wallet_gap * MIL))
                if refused:  # never applied: the balance stays, and the run neither grows nor ends
                    continue
                balance, last_applied = new, (tid, wallet_gap)
                if wallet_gap or error:
                    if run is None:
                        run = []
                        expected_runs.append(run)
                    run.append(tid)
                else:
                    run = None
            if run is not None and last_applied[1]:
                exposure[currency] = exposure.get(currency, 0) + abs(last_applied[1]) * 1000
        db.build()
        members = db.query("SELECT discrepancy_id, transaction_id FROM discrepancy_transactions "
                           "WHERE role = 'out_of_sync' ORDER BY discrepancy_id, position")
        runs: dict[str, list[str]] = {}
        for discrepancy_id, tid in members:
            runs.setdefault(discrepancy_id, []).append(tid)
        assert sorted(runs.values()) == sorted(expected_runs)
        assert all(key == "out_of_sync:" + run[0] for key, run in runs.items())
        stored = dict(db.query("SELECT currency, SUM(amount_at_stake) FROM discrepancy_report "
                               "WHERE kind = 'out_of_sync' AND status = 'open' GROUP BY currency"))
        assert {cur: v for cur, v in stored.items() if v} == exposure
        for cur, opening, first_seen, credits, debits, calc, gaps, closing in db.query(
                "SELECT currency, opening_balance, first_seen_balances, credits, debits, calculation_differences, "
                "continuity_gaps, closing_balance FROM balance_rollforward"):
            assert opening + first_seen + credits - debits + calc + gaps == closing
    finally:
        db.close()
