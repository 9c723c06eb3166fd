"""The truth file of a sample export (`--truth PATH`): every finding the export should give, and the near misses.

One CSV row per finding, in time order: `kind` (a detector, or a discrepancy kind), `expect` ("finding", or
"none" for a near miss that must not fire), `transaction_id`, `user_id`, `time` (UTC, when the sync block was
logged: what ingest sees), `detail` (error_day: the metric; untied_error: the SQS message id) and `note`.

Two sources, both the generator's own knowledge, never its log text:
* the faults it injected (faults.py, cases.py): amount_spike, vat_mismatch, continuity and continuity_gap,
  duplicate_transaction, untied_error, error_day;
* for the kinds whose rule *is* the definition, that definition applied to every transaction it logged (type,
  source, action, printed amounts and balances, wallet offset, logged time): out_of_sync episodes, calculation,
  frequent_discrepancies, off_hours_manual, float_noise, unknown_action, test_user, burst, rapid_deduction,
  multi_currency, negative_amount. (A calculation break is injected too, besides the VAT logged as 0 of
  faults.py; an outside change to a balance with more decimals than the currency, such as 1926.3636363636363
  AED, makes one as well: the next block prints its new balance rounded.)

It assumes the project's default settings (business time +03:00, 08:00-18:00, Friday and Saturday off, the
thresholds below), as bench/bench_detectors.py runs it.
"""
from __future__ import annotations

import csv
import os
import re
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

from sample.ledger.cases import BUSINESS_OFFSET_MS, DAY_MS, RAPID_WINDOW_MS, UNKNOWN_ACTIONS, WEEKEND, Case
from sample.ledger.users import TEST_USER_ID
from sample.plan import GUARDED, Tx
from sample.stats import SampleStats
from sample.text.jsformat import iso_ms, js_number

COLUMNS = ("kind", "expect", "transaction_id", "user_id", "time", "detail", "note")
TOLERANCE = Decimal("0.001")          # BALANCE_TOLERANCE
MICRO = Decimal("0.000001")
MISSPELT_ACTIONS = ("INVAILID_ENTRY",)  # the real export's typo, which the everyday traffic repeats
MANUAL_SOURCES = ("MANUAL_ADDITION", "MANUAL_DEDUCTION")
AUTOMATED_ACTIONS = ("DELIVERY_DEDUCTION",)
WORK_MINUTES = (8 * 60, 18 * 60)
BURST_MS = 1000
FREQUENT_COUNT, FREQUENT_WINDOW_MS = 3, 7 * DAY_MS
ERROR_DAY_MIN_COUNT = 5
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def truth_rows(journal: list[Tx], logged_ms: dict[str, int], book: list[Case], stats: SampleStats) -> list[dict]:
    """Every row of the truth file, sorted by time, kind and transaction id."""
    when = {tx.id: logged_ms[tx.id] for tx in journal}
    by_user: dict[str, list[Tx]] = defaultdict(list)
    for tx in sorted(journal, key=lambda t: (when[t.id], t.id)):
        by_user[tx.user_id].append(tx)
    rows: list[dict] = []

    def add(kind: str, tx: Tx | None, note: str, expect: str = "finding", **other) -> None:
        rows.append({"kind": kind, "expect": expect, "transaction_id": tx.id if tx else "",
                     "user_id": tx.user_id if tx else other.get("user_id", ""),
                     "time": iso_ms(when[tx.id] if tx else other["at_ms"]), "detail": other.get("detail", ""),
                     "note": note})

    listed = {tx.id: tx for tx in journal}
    calculation = {tx.id for tx in journal if _calculation_off(tx)}
    continuity = set(stats.continuity_break_tx_ids)
    for tx_id in stats.ledger_break_tx_ids:
        add("vat_mismatch", listed[tx_id], "VAT applied to the balance but logged as 0 (legacy schema)")
    for tx_id in stats.continuity_break_tx_ids:
        for kind in ("continuity", "continuity_gap"):
            add(kind, listed[tx_id], "the balance changed outside the function before this block")
    notes = {tx_id: "VAT applied to the balance but logged as 0 (legacy schema)" for tx_id in stats.ledger_break_tx_ids}
    notes.update((c.tx.id, c.note) for c in book if c.kind == "calculation")
    for tx_id in calculation:
        add("calculation", listed[tx_id], notes.get(tx_id, "the printed newBalance is rounded from a balance "
                                                            "with more decimals than the currency has"))
    for case in book:
        if case.kind == "calculation":
            continue
        if case.users:
            for day_ms, at_ms in _incident_days(case, by_user, when):
                add(case.kind, None, case.note, case.expect, at_ms=at_ms, detail=case.detail)
            continue
        if case.tx is not None:
            add(case.kind, case.tx, case.note, case.expect)
        else:
            add(case.kind, None, case.note, case.expect, user_id=case.user_id, at_ms=case.at_ms, detail=case.detail)
    for user_id, txs in by_user.items():
        _user_rows(add, txs, when, calculation, continuity)
    # a near miss that a definition lists as a finding after all (its time moved) is a finding
    found = {(r["kind"], r["transaction_id"]) for r in rows if r["expect"] == "finding"}
    rows = [r for r in rows if r["expect"] == "finding" or (r["kind"], r["transaction_id"]) not in found]
    rows.sort(key=lambda r: (r["time"], r["kind"], r["transaction_id"], r["detail"]))
    return rows


def _incident_days(case: Case, by_user: dict[str, list[Tx]], when: dict[str, int]) -> list[tuple[int, int]]:
    """(business day, first time) of each day on which at least ERROR_DAY_MIN_COUNT of the incident's users are
    first seen out of sync (their next applied transaction after it)."""
    first_seen: dict[int, list[int]] = defaultdict(list)
    for user_id in case.users:
        after = [tx for tx in by_user[user_id] if when[tx.id] > case.at_ms and tx.outcome != GUARDED]
        if after and _out_of_sync(after[0]):
            t = when[after[0].id]
            first_seen[(t + BUSINESS_OFFSET_MS) // DAY_MS].append(t)
    return [(day, min(times)) for day, times in sorted(first_seen.items()) if len(times) >= ERROR_DAY_MIN_COUNT]


def _user_rows(add, txs: list[Tx], when: dict[str, int], calculation: set, continuity: set) -> None:
    """The findings of one user's transactions (in logged order) under each kind's definition."""
    user_id = txs[0].user_id
    if user_id == TEST_USER_ID or not UUID.match(user_id):
        add("test_user", txs[0], "the test account")
    currencies: list[str] = []
    in_episode = False
    discrepant: list[tuple[int, Tx]] = []
    last_count = 0
    previous: Tx | None = None
    last_debit: dict[Decimal, int] = {}   # amount -> time of the user's latest debit of it
    for tx in txs:
        t = when[tx.id]
        if tx.currency not in currencies:
            currencies.append(tx.currency)
            if len(currencies) > 1:
                add("multi_currency", tx, f"first transaction in {tx.currency}, after {currencies[0]}")
        if previous is not None and t - when[previous.id] < BURST_MS:
            add("burst", tx, f"{t - when[previous.id]} ms after the user's previous transaction")
        previous = tx
        amount = Decimal(tx.amount)
        if tx.kind == "DEBIT":
            before = last_debit.get(amount)
            if amount > 0 and before is not None and t - before <= RAPID_WINDOW_MS:
                add("rapid_deduction", tx, f"the same amount debited {(t - before) // 1000} s before")
            last_debit[amount] = t
        if amount < 0:
            add("negative_amount", tx, "a negative amount")
        if _float_noise(tx):
            add("float_noise", tx, "a printed number with more than 6 decimals")
        if not tx.legacy and tx.action in MISSPELT_ACTIONS + UNKNOWN_ACTIONS:
            add("unknown_action", tx, f"action {tx.action!r}")
        if not tx.legacy and tx.source in MANUAL_SOURCES and tx.action not in AUTOMATED_ACTIONS and _off_hours(t):
            add("off_hours_manual", tx, "a manual posting outside business hours")
        out = _out_of_sync(tx)
        if tx.outcome != GUARDED:   # a refused transaction neither joins nor ends an episode
            if out and not in_episode:
                add("out_of_sync", tx, "the payment wallet differs from the balance")
            in_episode = out
        if out or tx.id in calculation or tx.id in continuity:
            discrepant.append((t, tx))
            count = sum(1 for s, _ in discrepant if t - FREQUENT_WINDOW_MS <= s <= t)
            if count >= FREQUENT_COUNT > last_count:
                add("frequent_discrepancies", tx, f"{count} discrepant transactions within 7 days")
            last_count = count


def _float_noise(tx: Tx) -> bool:
    printed = [tx.amount, tx.vat, js_number(tx.old), js_number(tx.new)]
    if not tx.legacy:
        printed.append(js_number(tx.payment))
    return any(Decimal(p) != Decimal(p).quantize(MICRO) for p in printed)


def _calculation_off(tx: Tx) -> bool:
    """newBalance differs from oldBalance -/+ (amount - vat), as printed, by more than the tolerance."""
    net = Decimal(tx.amount) - Decimal(tx.vat)
    old = Decimal(js_number(tx.old))
    expected = old - net if tx.kind == "DEBIT" else old + net
    return abs(Decimal(js_number(tx.new)) - expected) > TOLERANCE


def _out_of_sync(tx: Tx) -> bool:
    """A not-in-sync error follows the block, or its printed wallet differs from its printed balance."""
    if tx.nis is not None:
        return True
    return not tx.legacy and abs(Decimal(js_number(tx.payment)) - Decimal(js_number(tx.new))) > TOLERANCE


def _off_hours(utc_ms: int) -> bool:
    local = utc_ms + BUSINESS_OFFSET_MS
    minute = local % DAY_MS // 60_000
    weekday = datetime.fromtimestamp(local // 1000, tz=timezone.utc).weekday()
    return weekday in WEEKEND or not WORK_MINUTES[0] <= minute < WORK_MINUTES[1]


def write_truth(path: str | os.PathLike, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_truth(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
