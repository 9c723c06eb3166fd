"""Property tests: consistent ledgers produce no calculation or continuity findings, and an injected
fault is found exactly where it was injected (and nowhere else)."""
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
            "SELECT kind, transaction_id FROM discrepancy_report WHERE kind IN ('calculation', 'continuity')")}
        assert found == ({target} if target else set())
        gaps = {r[0] for r in db.query("SELECT transaction_id FROM anomalies WHERE detector = 'continuity_gap'")}
        assert gaps == ({target[1]} if target and target[0] == "continuity" else set())
        assert db.query("SELECT COUNT(*) FROM discrepancy_report WHERE kind IN ('wallet', 'sync')") == [(0,)]
    finally:
        db.close()
