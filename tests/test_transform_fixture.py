"""A hand-written ledger with a known answer for every rule and every detector.

Each user below isolates one rule: one case that must fire and, next to it,
one that must not. Business time is +03:00 (2024-03-03 is a Sunday; a
nightly batch at 21:01Z falls on the next business day). The answers were
worked out by hand from log-format.md §8 and docs/transforms.md, not copied
from a run.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.transform_ledger import LedgerDB, uid
from transform.invariants import check
from vocabulary import ERROR_KINDS

A, B, C, D, E, F, G, G2, H, H2 = (uid(n) for n in range(1, 11))
I, I2, J, K, L, M, N, O, P, R = (uid(n) for n in range(11, 21))
S, T, U = uid(21), uid(22), uid(23)
G3, G4, G5, G6, G7, G8 = (uid(n) for n in range(40, 46))
W = [uid(n) for n in range(46, 51)]
V = uid(51)
TEST_USER = "random-uuid"


def night(day: int, second: int = 0) -> str:
    return f"2024-03-{day:02d}T21:01:{second:02d}.000Z"


def morning(day: int) -> str:
    return f"2024-03-{day:02d}T07:00:00.000Z"  # 10:00 business time


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    db = LedgerDB(f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}")
    # A: consistent, with VAT on a payment and float residue within the tolerance -> nothing at all
    db.tx("A1", A, morning(4), "CREDIT", "110", "10", "0", "100", source="PAYMENT", action="RENEW_SUBSCRIPTION")
    db.tx("A2", A, night(4), "DEBIT", "8", "0", "100", "92")
    db.tx("A3", A, night(5), "DEBIT", "8", "0", "92", "84.0005")  # 0.0005 off: inside 0.001
    db.tx("A4", A, night(6), "DEBIT", "8", "0", "84.0005", "76.0005")
    # B: VAT applied but logged as 0 (§8.5): calculation mismatch, resolved by the next transaction
    db.tx("B1", B, morning(4), "CREDIT", "106.15", "9.65", "0", "96.5", source="PAYMENT", action="RENEW_SUBSCRIPTION")
    db.tx("B2", B, night(5), "DEBIT", "8", "0", "96.5", "89.227")
    db.tx("B3", B, night(6), "DEBIT", "8", "0", "89.227", "81.227")
    # C: the balance moved by +5 between two transactions: a continuity break
    db.tx("C1", C, night(4), "DEBIT", "8", "0", "50", "42")
    db.tx("C2", C, night(5), "DEBIT", "8", "0", "47", "39")
    db.tx("C3", C, night(6), "DEBIT", "8", "0", "39", "31")
    # D: wallet differs and the Lambda said so; still the latest state -> open
    db.tx("D1", D, night(4), "DEBIT", "8", "0", "30", "22", payment="25")
    db.not_in_sync("D1", D, "2024-03-04T21:01:00.500Z", "22", "25")
    # E: the same, then back in sync -> resolved
    db.tx("E1", E, night(4), "DEBIT", "8", "0", "30", "22", payment="25")
    db.not_in_sync("E1", E, "2024-03-04T21:01:00.500Z", "22", "25")
    db.tx("E2", E, night(5), "DEBIT", "8", "0", "22", "14")
    # S: one transaction out of sync (the fifth issue first seen on business day 03-05: an error day)
    db.tx("S1", S, night(4), "DEBIT", "1", "0", "50", "49", payment="40")
    # T: two episodes. T1 out of sync, T2 back in sync: resolved. T3 has a not-in-sync error though its printed
    # wallet agrees (out of sync, gap 0); T4 is refused by the guard (not applied: neither joins nor breaks the
    # run); T5 out of sync again: one open episode T3..T5, gap -2 now
    db.tx("T1", T, night(4), "DEBIT", "1", "0", "20", "19", payment="21")
    db.tx("T2", T, night(5), "DEBIT", "1", "0", "19", "18")
    db.tx("T3", T, night(6), "DEBIT", "1", "0", "18", "17")
    db.not_in_sync("T3", T, "2024-03-06T21:01:00.500Z", "17", "17")
    db.tx("T4", T, night(7), "DEBIT", "100", "0", "17", "-83", outcome="refused_negative_balance")
    db.tx("T5", T, night(8), "DEBIT", "1", "0", "17", "16", payment="18")
    # U: a not-in-sync error no transaction block precedes, logged twice (the same file read from two places)
    db.not_in_sync(None, U, "2024-03-09T10:00:00.000Z", "5", "4")
    db.not_in_sync(None, U, "2024-03-09T10:00:00.000Z", "5", "4")
    # F: into overdraft on every count
    db.tx("F0", F, night(3), "DEBIT", "5", "0", "10", "5")
    db.tx("F1", F, night(4), "DEBIT", "10", "0", "5", "-5", payment="-5")
    # V: the balance stays positive, the wallet does not: below zero, back above, below again since V2 (one
    # out-of-sync episode throughout)
    for n, pay in enumerate(("-1", "1", "-1", "-2")):
        db.tx(f"V{n}", V, night(n + 1), "DEBIT", "1", "0", str(10 - n), str(9 - n), payment=pay)
    # G: nine debits of 8, then one of 80 -> a spike; G2 varies within 2x its median -> none
    balance = 1000
    for day in range(1, 10):
        db.tx(f"G{day}", G, night(day), "DEBIT", "8", "0", str(balance), str(balance - 8))
        balance -= 8
    db.tx("G10", G, night(10), "DEBIT", "80", "0", str(balance), str(balance - 80))
    balance = 1000
    for day, amount in enumerate((8, 9, 10, 8, 9, 10, 8, 9, 10, 12), start=1):
        db.tx(f"G2_{day}", G2, night(day), "DEBIT", str(amount), "0", str(balance), str(balance - amount))
        balance -= amount
    # like with like: each compared with the user's transactions of the same type, source and action only.
    # G3: nine deductions of 8, then a partial refund of 17.6 (2.2x, VAT 1.6 included) -> none (one refund)
    # G4: eight add-on payments of 1.1-3.3, then a renewal of 176 -> none (one renewal; the add-ons stay within 1.5x)
    # G5: nine deductions of 8, then one of 20 (2.5x: a plan change) -> none; G6: then one of 24 (3x) -> a spike
    # G7: eight add-on payments of 2.2, then one of 33 -> a spike among add-ons
    # G8: legacy blocks (no source or action: nothing like them to compare with), nine of 8 and one of 80 -> none
    chain(db, "G3", G3, [("DEBIT", "8", "0", {})] * 9 + [("DEBIT", "17.6", "1.6",
                                                           {"source": "REFUND", "action": "PARTIAL_REFUND"})])
    addon = {"source": "PAYMENT", "action": "ADD_DELIVERY_ADDONS"}
    chain(db, "G4", G4, [("CREDIT", f"{a}.{a}", f"0.{a}", addon) for a in (1, 2, 3, 1, 2, 3, 1, 2)]
          + [("CREDIT", "176", "16", {"source": "PAYMENT", "action": "RENEW_SUBSCRIPTION"})])
    chain(db, "G5", G5, [("DEBIT", "8", "0", {})] * 9 + [("DEBIT", "20", "0", {})])
    chain(db, "G6", G6, [("DEBIT", "8", "0", {})] * 9 + [("DEBIT", "24", "0", {})])
    chain(db, "G7", G7, [("CREDIT", "2.2", "0.2", addon)] * 8 + [("CREDIT", "33", "3", addon)])
    chain(db, "G8", G8, [("DEBIT", "8", "0", {"schema": "legacy"})] * 9 + [("DEBIT", "80", "0", {"schema": "legacy"})])
    # H: three wallet mismatches within 7 days -> frequent; H2 has two -> not
    for n, day in enumerate((4, 5, 6), start=1):
        db.tx(f"H{n}", H, night(day), "DEBIT", "1", "0", str(100 - n + 1), str(100 - n), payment="7")
    for n, day in enumerate((4, 5), start=1):
        db.tx(f"H2_{n}", H2, night(day), "DEBIT", "1", "0", str(100 - n + 1), str(100 - n), payment="7")
    # I: SAR payment with the wrong VAT (10 instead of 115*0.15/1.15 = 15); I2 right
    db.tx("I1", I, morning(4), "CREDIT", "115", "10", "0", "105", currency="SAR", source="PAYMENT", action="ADD_FOOD")
    db.tx("I2", I2, morning(4), "CREDIT", "115", "15", "0", "100", currency="SAR", source="PAYMENT", action="ADD_FOOD")
    # J: a typo, an unknown action, a missing action, a known one
    db.tx("J1", J, morning(4), "DEBIT", "1", "0", "100", "99", action="INVAILID_ENTRY")
    db.tx("J2", J, morning(5), "DEBIT", "1", "0", "99", "98", action="FOO_BAR_BAZ_QUX")
    db.tx("J3", J, morning(6), "DEBIT", "1", "0", "98", "97", action=None)
    db.tx("J4", J, morning(7), "DEBIT", "1", "0", "97", "96", action="DOUBLE_ENTRY")
    # K: one id seen again identically, one with other values
    db.tx("K1", K, night(4), "DEBIT", "8", "0", "100", "92")
    db.tx("K2", K, night(5), "DEBIT", "8", "0", "92", "84")
    db.conflict("K1", night(4), "duplicate")
    db.conflict("K2", night(5), "conflict")
    # L: the same 8 deducted twice within 30 s -> rapid; the next day again -> not
    db.tx("L1", L, night(4, 0), "DEBIT", "8", "0", "100", "92")
    db.tx("L2", L, night(4, 30), "DEBIT", "8", "0", "92", "84")
    db.tx("L3", L, night(5), "DEBIT", "8", "0", "84", "76")
    # M: 400 ms apart -> burst; 1.5 s apart -> not
    db.tx("M1", M, "2024-03-04T07:00:00.000Z", "DEBIT", "5", "0", "100", "95")
    db.tx("M2", M, "2024-03-04T07:00:00.400Z", "DEBIT", "6", "0", "95", "89")
    db.tx("M3", M, "2024-03-04T07:00:01.900Z", "DEBIT", "7", "0", "89", "82")
    # N: manual additions on Sunday 23:00 (fires), Monday 10:00 (not), Friday 10:00 (weekend: fires);
    #    the automated nightly deduction at 00:01 Saturday (not)
    db.tx("N1", N, "2024-03-03T20:00:00.000Z", "CREDIT", "5", "0", "0", "5", source="MANUAL_ADDITION", action="COMPENSATION")
    db.tx("N2", N, morning(4), "CREDIT", "5", "0", "5", "10", source="MANUAL_ADDITION", action="COMPENSATION")
    db.tx("N3", N, morning(8), "CREDIT", "5", "0", "10", "15", source="MANUAL_ADDITION", action="COMPENSATION")
    db.tx("N4", N, night(8), "DEBIT", "5", "0", "15", "10")
    # O: float noise flagged by ingest (fires) and a clean row (not)
    db.tx("O1", O, night(4), "DEBIT", "1.4", "0", "10.40000000000005", "9.00000000000005", float_noise=True)
    db.tx("O2", O, night(5), "DEBIT", "1", "0", "9.00000000000005", "8.00000000000005")
    # P: first BHD, then SAR
    db.tx("P1", P, night(4), "DEBIT", "1", "0", "10", "9")
    db.tx("P2", P, night(5), "DEBIT", "1", "0", "9", "8", currency="SAR")
    # the sample's test account
    db.tx("Q1", TEST_USER, morning(11), "CREDIT", "0", "0", "0", "0", source="MANUAL_ADDITION",
          action="CUSTOMERS_CALO_EXPERIMENTS")
    # R: a debit of -1.5 raises the balance (§8.4)
    db.tx("R1", R, night(4), "DEBIT", "-1.5", "0", "76.5", "78")
    # W: five users in sync on 03-01, out of sync on the night of 03-09 (business day 03-10), in sync again the
    # next night: five episodes that began on 03-10
    for n, user in enumerate(W, start=1):
        db.tx(f"W{n}_1", user, night(1), "DEBIT", "1", "0", "100", "99")
        db.tx(f"W{n}_2", user, night(9), "DEBIT", "1", "0", "99", "98", payment="95")
        db.tx(f"W{n}_3", user, night(10), "DEBIT", "1", "0", "98", "97")
    # error days: one event per day for two weeks, an error on some days, twelve on 2024-03-12
    for day in range(1, 15):
        db.log(f"2024-03-{day:02d}T09:00:00.000Z", "start")
    for day in (2, 5, 9):
        db.log(f"2024-03-{day:02d}T09:30:00.000Z", "sync_error", level="ERROR")
    for second in range(12):
        db.log(f"2024-03-12T09:30:{second:02d}.000Z", "sync_error", level="ERROR")
    db.result = db.build()
    yield db
    db.close()


def chain(db, prefix: str, user: str, rows) -> None:
    """Consistent transactions of `user` from a balance of 1000: debits at night, credits in the morning, one a
    day from 2024-03-01; rows are (type, amount, vat, keyword arguments of LedgerDB.tx)."""
    balance = Decimal(1000)
    for day, (type_, amount, vat, other) in enumerate(rows, start=1):
        net = Decimal(amount) - Decimal(vat)
        new = balance - net if type_ == "DEBIT" else balance + net
        db.tx(f"{prefix}_{day}", user, night(day) if type_ == "DEBIT" else morning(day), type_, amount, vat,
              str(balance), str(new), **other)
        balance = new


def fingerprints(db, detector: str) -> set[str]:
    return {r[0] for r in db.query("SELECT fingerprint FROM anomalies WHERE detector = :d", d=detector)}


def discrepancies(db, kind: str) -> dict[str, tuple]:
    rows = db.query("SELECT discrepancy_id, status, first_transaction_id, last_transaction_id, "
                    "resolving_transaction_id, count_transactions, count_lambda_errors, opening_gap, current_gap, "
                    "max_abs_gap, amount_at_stake, resolved_at FROM discrepancy_report WHERE kind = :k", k=kind)
    return {r[0]: r[1:] for r in rows}


def test_build_reports_counts(ledger):
    assert ledger.query("SELECT user_seq, prev_new_balance, is_continuity_break, continuity_gap FROM balance_events "
                        "WHERE transaction_id = 'C2'") == [(2, 42_000_000, 1, 5_000_000)]
    breaks = {r[0] for r in ledger.query("SELECT transaction_id FROM balance_events WHERE is_continuity_break")}
    assert breaks == {"C2"}
    assert ledger.query("SELECT overdraft_reason FROM balance_events WHERE transaction_id IN ('F0', 'F1') "
                        "ORDER BY transaction_id") == [(None,), ("actual,expected,wallet,crossing",)]


def test_breaks_are_one_row_per_transaction(ledger):
    assert discrepancies(ledger, "calculation") == {
        "calculation:B2": ("resolved", "B2", "B2", "B3", 1, 0, 727_000, 727_000, 727_000, 727_000, night(6))}
    assert discrepancies(ledger, "continuity") == {
        "continuity:C2": ("resolved", "C2", "C2", "C3", 1, 0, 5_000_000, 5_000_000, 5_000_000, 5_000_000, night(6))}


def test_out_of_sync_episodes(ledger):
    # (status, first, last, resolving, transactions, lambda errors, opening gap, current gap, largest, at stake,
    #  resolved at): worked out by hand from the transactions above
    assert discrepancies(ledger, "out_of_sync") == {
        "out_of_sync:D1": ("open", "D1", "D1", None, 1, 1, -3_000_000, -3_000_000, 3_000_000, 3_000_000, None),
        "out_of_sync:E1": ("resolved", "E1", "E1", "E2", 1, 1, -3_000_000, -3_000_000, 3_000_000, 0, night(5)),
        "out_of_sync:H1": ("open", "H1", "H3", None, 3, 0, 92_000_000, 90_000_000, 92_000_000, 90_000_000, None),
        "out_of_sync:H2_1": ("open", "H2_1", "H2_2", None, 2, 0, 92_000_000, 91_000_000, 92_000_000, 91_000_000,
                             None),
        "out_of_sync:S1": ("open", "S1", "S1", None, 1, 0, 9_000_000, 9_000_000, 9_000_000, 9_000_000, None),
        "out_of_sync:T1": ("resolved", "T1", "T1", "T2", 1, 0, -2_000_000, -2_000_000, 2_000_000, 0, night(5)),
        # T3's printed wallet agrees (gap 0) but the Lambda said "not in sync"; T4 (refused) is not in it
        "out_of_sync:T3": ("open", "T3", "T5", None, 2, 1, 0, -2_000_000, 2_000_000, 2_000_000, None),
        "out_of_sync:V0": ("open", "V0", "V3", None, 4, 0, 10_000_000, 8_000_000, 10_000_000, 8_000_000, None),
        **{f"out_of_sync:W{n}_2": ("resolved", f"W{n}_2", f"W{n}_2", f"W{n}_3", 1, 0, 3_000_000, 3_000_000, 3_000_000,
                                   0, night(10)) for n in range(1, 6)},
    }


def test_an_untied_error_logged_twice_is_one_issue_in_no_exposure(ledger):
    assert ledger.query("SELECT discrepancy_id, status, count_lambda_errors, current_gap, amount_at_stake "
                        "FROM discrepancy_report WHERE kind = 'untied_error'") == [
        ("untied_error:2024-03-09T10:00:00.000Z:", "open", 2, 1_000_000, 0)]


def test_an_episode_lists_its_transactions_and_the_one_that_resolved_it(ledger):
    rows = ledger.query("SELECT discrepancy_id, position, role, transaction_id, gap FROM discrepancy_transactions "
                        "WHERE user_id = :u ORDER BY discrepancy_id, position", u=T)
    assert rows == [("out_of_sync:T1", 1, "out_of_sync", "T1", -2_000_000), ("out_of_sync:T1", 2, "resolving", "T2", 0),
                    ("out_of_sync:T3", 1, "out_of_sync", "T3", 0), ("out_of_sync:T3", 2, "out_of_sync", "T5", -2_000_000)]


def test_exposure_is_each_out_of_sync_users_current_gap_once(ledger):
    # open episodes: D 3, H 90, H2 91, S 9, T 2, V 8 (BHD); a currency with no issue (SAR) has none
    assert ledger.query("SELECT currency, SUM(amount_at_stake), COUNT(*), COUNT(DISTINCT user_id) FROM discrepancy_report "
                        "WHERE kind = 'out_of_sync' AND status = 'open' GROUP BY currency") == [
        ("BHD", 203_000_000, 6, 6)]


def test_the_roll_forward_ties_out(ledger):
    rows = ledger.query("SELECT currency, month, opening_balance, first_seen_balances, credits, debits, "
                        "calculation_differences, continuity_gaps, closing_balance FROM balance_rollforward")
    for cur, month, opening, first_seen, credits, debits, calc, gaps, closing in rows:
        assert opening + first_seen + credits - debits + calc + gaps == closing, (cur, month)
        assert opening == 0  # one month of data
    closing = dict(ledger.query("SELECT currency, closing_balance FROM balance_rollforward"))
    balances = dict(ledger.query("SELECT currency, SUM(balance) FROM user_balances GROUP BY currency"))
    # P's BHD balance (9) stays in the BHD chain, while user_balances holds P in SAR only
    assert closing == {"BHD": balances["BHD"] + 9_000_000, "SAR": balances["SAR"]}
    # B's calculation difference (0.727), A3's 0.0005 (inside the tolerance, still money) and C's continuity gap
    # (+5) are the only ones in BHD
    assert ledger.query("SELECT calculation_differences, continuity_gaps FROM balance_rollforward "
                        "WHERE currency = 'BHD'") == [(727_000 + 500, 5_000_000)]


def test_amount_spike(ledger):
    # G10: 80 among deductions of 8 (10x); G6_10: 24, exactly AMOUNT_SPIKE_MIN_RATIO (3) times the median;
    # G7_9: 33 among add-on payments of 2.2. Not G2, G3's refund, G4's renewal, G5's 2.5x, G8's legacy blocks
    assert fingerprints(ledger, "amount_spike") == {"amount_spike:G10", "amount_spike:G6_10", "amount_spike:G7_9"}
    found = ledger.query("SELECT parameters, explanation FROM anomalies WHERE fingerprint = 'amount_spike:G6_10'")
    parameters, explanation = found[0]
    assert '"action":"DELIVERY_DEDUCTION"' in parameters and '"ratio":"3.00"' in parameters
    assert explanation == ("This DELIVERY_DEDUCTION debit of 24.000 BHD is 3.0 times the user's median of 8.000 BHD "
                           "over 10 MANUAL_DEDUCTION DELIVERY_DEDUCTION debits (robust z-score 8.0).")


def test_frequent_discrepancies(ledger):
    # H: three in three days; T: T1, T3 and T5 within seven days; V: V0, V1 and V2; H2's two do not
    assert fingerprints(ledger, "frequent_discrepancies") == {
        "frequent_discrepancies:H3", "frequent_discrepancies:T5", "frequent_discrepancies:V2"}


@pytest.mark.parametrize("outcome, found", [(None, {"frequent_discrepancies:X3"}),
                                            ("refused_negative_balance", set())])
def test_frequent_discrepancies_count_applied_transactions_only(tmp_path, outcome, found):
    # X's third wallet mismatch within 7 days: applied, it reaches the count; refused by the negative-balance
    # guard, it is no discrepancy (no episode has it, as discrepancy_transactions.sql counts them)
    db = LedgerDB(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        for n, day in enumerate((4, 5, 6), start=1):
            db.tx(f"X{n}", uid(99), night(day), "DEBIT", "1", "0", str(100 - n + 1), str(100 - n), payment="7",
                  outcome=outcome if n == 3 else None)
        db.build()
        assert fingerprints(db, "frequent_discrepancies") == found
    finally:
        db.close()


def test_vat_mismatch(ledger):
    assert fingerprints(ledger, "vat_mismatch") == {"vat_mismatch:I1", "vat_mismatch:B2"}
    rules = dict(ledger.query("SELECT transaction_id, parameters FROM anomalies WHERE detector = 'vat_mismatch'"))
    assert '"rule":"wrong_vat"' in rules["I1"] and '"rule":"vat_not_logged"' in rules["B2"]


def test_unknown_action(ledger):
    found = dict(ledger.query("SELECT transaction_id, severity FROM anomalies WHERE detector = 'unknown_action'"))
    assert found == {"J1": "low", "J2": "medium", "J3": "high"}
    explanation = ledger.query("SELECT explanation FROM anomalies WHERE transaction_id = 'J1' "
                               "AND detector = 'unknown_action'")[0][0]
    assert "misspelling of INVALID_ENTRY" in explanation


def test_duplicate_transaction(ledger):
    # K2 came again with other values; K1's identical copy (a redelivery, counted once) is no finding
    found = dict(ledger.query("SELECT transaction_id, severity FROM anomalies WHERE detector = 'duplicate_transaction'"))
    assert found == {"K2": "high"}


def test_rapid_deduction(ledger):
    assert fingerprints(ledger, "rapid_deduction") == {"rapid_deduction:L2"}


def test_burst(ledger):
    assert fingerprints(ledger, "burst") == {"burst:M2"}


def test_off_hours_manual(ledger):
    assert fingerprints(ledger, "off_hours_manual") == {"off_hours_manual:N1", "off_hours_manual:N3"}
    texts = dict(ledger.query("SELECT transaction_id, explanation FROM anomalies WHERE detector = 'off_hours_manual'"))
    assert "23:00 business time on a Sunday, outside business hours" in texts["N1"]
    assert "on a Friday, a weekend day" in texts["N3"]


def test_float_noise(ledger):
    assert fingerprints(ledger, "float_noise") == {"float_noise:O1"}


def test_multi_currency(ledger):
    assert fingerprints(ledger, "multi_currency") == {f"multi_currency:{P}:SAR"}


def test_test_user(ledger):
    assert fingerprints(ledger, "test_user") == {f"test_user:{TEST_USER}"}


def test_negative_amount(ledger):
    assert fingerprints(ledger, "negative_amount") == {"negative_amount:R1"}


def test_continuity_gap(ledger):
    assert fingerprints(ledger, "continuity_gap") == {"continuity_gap:C2"}


def test_error_day(ledger):
    # errors: 12 on 2024-03-12 against a median of 0 fires; 1 on 2024-03-02 (below ERROR_DAY_MIN_COUNT) does not.
    # discrepancies that began that day: 5 on 03-10 (W's episodes) fire, against 2 on 03-06 (B2, C2), 1 on 03-07
    # (T3) and none on the other days (z = 5 / (1.253314 * 8/14) = 7.0). The nightly batch of 2024-03-04T21:01Z
    # (business day 03-05) opens 6 episodes, but each with the user's first transaction (D1, E1, H1, H2_1, S1, T1):
    # they may have begun before the data, and do not count for that day.
    assert fingerprints(ledger, "error_day") == {"error_day:errors:2024-03-12", "error_day:discrepancies:2024-03-10"}
    counts = ledger.query("SELECT parameters FROM anomalies WHERE fingerprint = 'error_day:discrepancies:2024-03-10'")
    assert '"count":5' in counts[0][0]
    # the errors finding points at the day's first error, as a scan of every event finds it
    first = ledger.query("SELECT file_id, line_no FROM parsed_logs WHERE business_date = '2024-03-12' AND kind IN "
                         f"({', '.join(repr(k) for k in ERROR_KINDS)}) ORDER BY ts, kind, event_id LIMIT 1")
    assert ledger.query("SELECT file_id, line_no FROM anomalies WHERE fingerprint = 'error_day:errors:2024-03-12'") \
        == first and first[0][0] is not None


def test_the_consistent_user_has_no_findings(ledger):
    assert ledger.query("SELECT COUNT(*) FROM anomalies WHERE user_id = :u", u=A) == [(0,)]
    assert ledger.query("SELECT COUNT(*) FROM discrepancy_report WHERE user_id = :u", u=A) == [(0,)]


def test_user_balances(ledger):
    cols = ("balance", "payment_balance", "count_transactions", "total_debit", "total_credit", "total_vat",
            "is_overdrawn", "overdrawn_since", "wallet_overdrawn_since", "count_discrepancies",
            "count_open_discrepancies", "is_test_user")
    row = lambda user: dict(zip(cols, ledger.query(f"SELECT {', '.join(cols)} FROM user_balances WHERE user_id = :u",
                                                  u=user)[0]))
    assert row(A) == {"balance": 76_000_500, "payment_balance": 76_000_500, "count_transactions": 4,
                      "total_debit": 24_000_000, "total_credit": 110_000_000, "total_vat": 10_000_000,
                      "is_overdrawn": 0, "overdrawn_since": None, "wallet_overdrawn_since": None,
                      "count_discrepancies": 0, "count_open_discrepancies": 0, "is_test_user": 0}
    assert row(F)["is_overdrawn"] == 1 and row(F)["overdrawn_since"] == row(F)["wallet_overdrawn_since"] == night(4)
    # V's wallet is below zero since V2 (V0's stretch ended at V1), its balance never was
    assert {k: row(V)[k] for k in ("balance", "payment_balance", "is_overdrawn", "overdrawn_since",
                                   "wallet_overdrawn_since")} == {
        "balance": 6_000_000, "payment_balance": -2_000_000, "is_overdrawn": 0, "overdrawn_since": None,
        "wallet_overdrawn_since": night(3)}
    # D's wallet differs from the balance but is not below zero
    assert (row(D)["payment_balance"], row(D)["wallet_overdrawn_since"]) == (25_000_000, None)
    assert (row(D)["count_discrepancies"], row(D)["count_open_discrepancies"]) == (1, 1)
    assert (row(E)["count_discrepancies"], row(E)["count_open_discrepancies"]) == (1, 0)
    assert (row(T)["count_discrepancies"], row(T)["count_open_discrepancies"]) == (2, 1)
    assert row(TEST_USER)["is_test_user"] == 1
    assert ledger.query("SELECT count_currencies, currency FROM user_balances WHERE user_id = :u", u=P) == [(2, "SAR")]


def test_daily_flows_add_up_to_the_ledger(ledger):
    by_flow = ledger.query("SELECT SUM(total_amount), SUM(total_vat), SUM(count_transactions) FROM daily_flows")
    by_row = ledger.query("SELECT SUM(amount), SUM(vat), COUNT(*) FROM balance_events")
    assert by_flow == by_row


def test_daily_health_and_event_counts(ledger):
    assert ledger.query("SELECT count_errors FROM daily_health WHERE business_date = '2024-03-12'") == [(12,)]
    assert ledger.query("SELECT count_events FROM daily_event_counts WHERE business_date = '2024-03-12' "
                        "AND kind = 'sync_error'") == [(12,)]


def test_invariants_hold_on_the_fixture(ledger):
    with ledger.engine.connect() as conn:
        assert [str(f) for f in check(conn, 1000)] == []


def test_invariants_catch_a_broken_row(ledger, tmp_path):
    import sqlite3
    copy = tmp_path / "broken.db"
    with sqlite3.connect(ledger.url.removeprefix("sqlite:///")) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    from sqlalchemy import create_engine, text
    engine = create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE balance_events SET is_calc_mismatch = 0 WHERE transaction_id = 'B2'"))
        failures = {f.rule for f in check(conn, 1000)}
    engine.dispose()
    assert {"ledger_identity", "mismatch_flag"} <= failures


def test_fingerprints_are_stable_across_rebuilds(ledger):
    before = ledger.query("SELECT anomaly_id, fingerprint FROM anomalies ORDER BY anomaly_id")
    ledger.build()
    assert ledger.query("SELECT anomaly_id, fingerprint FROM anomalies ORDER BY anomaly_id") == before


def test_rapid_deduction_looks_past_other_transactions(tmp_path):
    """The previous debit of the same amount need not be the user's previous transaction (the detector looks
    it up only where the previous transaction is within the window)."""
    db = LedgerDB(f"sqlite:///{tmp_path / 'rapid.db'}")
    try:
        u, v = uid(30), uid(31)
        # U: 8, a 3 twenty seconds later, then 8 again 40 s after the first -> rapid (the 3 is no repeat)
        db.tx("U1", u, night(4, 0), "DEBIT", "8", "0", "100", "92")
        db.tx("U2", u, night(4, 20), "DEBIT", "3", "0", "92", "89")
        db.tx("U3", u, night(4, 40), "DEBIT", "8", "0", "89", "81")
        # V: 8, a day later a 3 and 30 s after it an 8: the previous 8 is a day back -> not
        db.tx("V1", v, night(4), "DEBIT", "8", "0", "100", "92")
        db.tx("V2", v, night(5, 0), "DEBIT", "3", "0", "92", "89")
        db.tx("V3", v, night(5, 30), "DEBIT", "8", "0", "89", "81")
        db.build()
        assert fingerprints(db, "rapid_deduction") == {"rapid_deduction:U3"}
        assert '"previous_transaction_id":"U1"' in db.query(
            "SELECT parameters FROM anomalies WHERE fingerprint = 'rapid_deduction:U3'")[0][0]
    finally:
        db.close()
