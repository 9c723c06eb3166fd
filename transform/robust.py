"""Robust statistics in exact arithmetic, and the two detectors that need them.

SQL can count and sum, but a median of absolute deviations from a median is
clumsy and slow in portable SQL, so these detectors stream rows ordered by
their group key and keep one group in memory at a time. Medians are exact
Fractions of micro-units; thresholds are compared exactly; only the reported
score is turned into a float.

Robust z-score (Iglewicz & Hoaglin): z = 0.6745 * (x - median) / MAD. When
more than half the values are equal the MAD is 0; then the mean absolute
deviation stands in: z = (x - median) / (1.253314 * MeanAD). When that is 0
too, every value is the median and nothing is unusual.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import groupby

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from db.money import SCALE, from_micros, quantize
from transform.dialect import SCOPE_USERS
from transform.params import Params
from vocabulary import ERROR_KINDS

MAD_CONSTANT = Fraction(Decimal("0.6745"))  # Φ⁻¹(0.75): makes the MAD comparable to a standard deviation
MEANAD_CONSTANT = Fraction(Decimal("1.253314"))  # √(π/2): the same for the mean absolute deviation
STREAM_ROWS = 10_000


def median(sorted_values: Sequence) -> Fraction:
    """Exact median of an already sorted, non-empty sequence."""
    n = len(sorted_values)
    mid = n // 2
    if n % 2:
        return Fraction(sorted_values[mid])
    return (Fraction(sorted_values[mid - 1]) + Fraction(sorted_values[mid])) / 2


class RobustScale:
    """Median and spread of one group; `z(x)` is the robust z-score, None when the spread is 0."""

    def __init__(self, sorted_values: Sequence[int]):
        self.n = len(sorted_values)
        self.median = median(sorted_values)
        # twice the deviations are integers (the median is a whole or half micro-unit): sort those
        twice = 2 * self.median
        if twice.denominator == 1 and all(type(v) is int for v in sorted_values):
            # plain integers throughout (a Fraction per value made this the detector's main cost): the
            # deviations are these halved, so the MAD and the mean deviation are exactly the same numbers
            t = twice.numerator
            doubled = sorted([abs(2 * v - t) for v in sorted_values])
            self.mad = median(doubled) / 2
            total_deviation = Fraction(sum(doubled), 2)
        else:
            deviations = sorted(abs(Fraction(v) - self.median) for v in sorted_values)
            self.mad = median(deviations)
            total_deviation = sum(deviations, Fraction(0))
        if self.mad:
            self.scale, self.method = self.mad / MAD_CONSTANT, "mad"
        else:
            mean_ad = total_deviation / self.n
            self.scale, self.method = (mean_ad * MEANAD_CONSTANT, "meanad") if mean_ad else (Fraction(0), "none")

    def z(self, value: int) -> Fraction | None:
        return (Fraction(value) - self.median) / self.scale if self.scale else None


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _units(micros: Fraction) -> Decimal:
    """Micro-units as currency units, exact for medians (which are multiples of half a micro)."""
    return (_decimal(micros) / SCALE).normalize()


def _money(micros, currency: str | None, params: Params) -> str:
    value = micros if isinstance(micros, Decimal) else from_micros(micros)
    return f"{quantize(value, currency, params.precision)} {currency or '?'}"


def amount_spikes(conn: Connection, params: Params, scoped: str = "") -> Iterator[dict]:
    """Amount spikes, like against like: per user, type, source and action, robust z above
    AMOUNT_SPIKE_THRESHOLD and the amount at least AMOUNT_SPIKE_MIN_RATIO times the group's median.

    A renewal is compared with the user's renewals, a refund with their refunds, a nightly deduction with their
    nightly deductions; a transaction without a source or an action (the legacy schema) has no group to be
    compared with, and is not scored. An incremental build (`scoped`, transform/scope.py) reads from
    balance_events only the changed users' groups that can hold a spike (amount_groups: at least
    AMOUNT_SPIKE_MIN_SAMPLES amounts, not all equal), each whole: a spike is judged against the user's whole group.
    """
    threshold, ratio = Fraction(params.spike_threshold), Fraction(params.spike_min_ratio)
    base = params.detector_parameters()["amount_spike"]
    # Plain tuples from the driver's own cursor, in batches: this loop sees every transaction, so no per-row
    # objects beyond them. Only the columns the statistics need are sorted and read; the few spikes fetch the rest
    # by the table's key. Equal amounts of a group need no order among themselves: they have the same z, so either
    # all of them are spikes or none is. The user is sorted by user_key, the integer that stands for them
    # (transform/scope_users.sql in an incremental build): a shorter sort key than user_id.
    cursor = conn.connection.cursor()
    if scoped:
        source, key = "balance_events", "transaction_id"
        cursor.execute(_scoped_rows(conn, params.spike_min_samples))
    else:
        source, key = "int_ledger", "event_id"
        cursor.execute(
            "SELECT user_key, type, source, action, amount, event_id FROM int_ledger "
            "WHERE user_id IS NOT NULL AND type IS NOT NULL AND source IS NOT NULL AND action IS NOT NULL "
            "AND amount IS NOT NULL ORDER BY user_key, type, source, action, amount")
    rows = (row for batch in iter(lambda: cursor.fetchmany(STREAM_ROWS), []) for row in batch)
    details = text(f"SELECT {key}, user_id, transaction_id, ts, business_date, currency, file_id, line_no "
                   f"FROM {source} WHERE {key} IN :ids").bindparams(bindparam("ids", expanding=True))
    pending: list[tuple] = []
    try:
        for spike in _spikes(params, groupby(rows, key=lambda r: r[:4]), threshold, ratio):
            pending.append(spike)
            if len(pending) == SPIKE_BATCH:
                yield from _spike_rows(conn, params, details, base, pending)
                pending = []
        yield from _spike_rows(conn, params, details, base, pending)
    finally:
        cursor.close()


SPIKE_BATCH = 500


def _scoped_rows(conn: Connection, min_samples: int) -> str:
    """The select of an incremental build's rows to score: the amounts of the changed users' groups that can hold a
    spike, by seeks in balance_events' user index when they are few, else in one pass over it."""
    from transform.scope import SCAN, read_mode  # (transform/scope.py imports the steps, and so this module)

    candidates = (f"SELECT changes.user_key, stored.* FROM {SCOPE_USERS} changes CROSS JOIN amount_groups stored "
                  f"WHERE stored.user_id = changes.user_id AND stored.count_amounts >= {int(min_samples)} "
                  "AND stored.least_amount < stored.largest_amount")
    part, whole = conn.execute(text(
        f"SELECT (SELECT COALESCE(SUM(count_amounts), 0) FROM ({candidates}) AS read_groups), "
        "COALESCE(SUM(count_amounts), 0) FROM amount_groups")).one()
    user, rows_from = "amounts.user_id", "candidates CROSS JOIN balance_events amounts"
    if read_mode(part, whole) == SCAN and conn.dialect.name == "sqlite":
        # (+user_id: one pass over balance_events, each row's group looked up among the few read)
        user, rows_from = "+amounts.user_id", "balance_events amounts, candidates"
    # (else SQLite joins a CROSS JOIN in the order written: the groups, then each one's rows by seeks)
    return (f"WITH candidates AS MATERIALIZED ({candidates}) "
            "SELECT candidates.user_key, amounts.type, amounts.source, amounts.action, amounts.amount, "
            f"amounts.transaction_id FROM {rows_from} WHERE {user} = candidates.user_id "
            "AND amounts.type = candidates.type AND amounts.source = candidates.source "
            "AND amounts.action = candidates.action AND amounts.amount IS NOT NULL "
            "ORDER BY candidates.user_key, amounts.type, amounts.source, amounts.action, amounts.amount")


def _spike_rows(conn, params, details, base, spikes: list[tuple]) -> Iterator[dict]:
    """The findings of a batch of spikes, with the columns fetched by one lookup for the whole batch."""
    if not spikes:
        return
    found = {r[0]: r[1:] for r in conn.execute(details, {"ids": [s[1] for s in spikes]})}
    threshold = Fraction(params.spike_threshold)
    for (_, type_, source, action), key, amount, z, stats in spikes:
        user_id, tx, ts, day, currency, file_id, line_no = found[key]
        kind = type_.lower()
        times = Fraction(amount) / stats.median if stats.median > 0 else None
        yield {
            "fingerprint": f"amount_spike:{tx}", "detector": "amount_spike",
            "severity": "high" if z >= 2 * threshold else "medium",
            "user_id": user_id, "currency": currency, "transaction_id": tx, "detected_at": ts,
            "business_date": day, "score": round(float(z), 3), "amount": amount,
            "parameters": json.dumps({**base, "median": str(_units(stats.median)), "mad": str(_units(stats.mad)),
                                      "spread": stats.method, "samples": stats.n, "type": type_, "source": source,
                                      "action": action, "ratio": None if times is None else f"{float(times):.2f}"},
                                     separators=(",", ":"), sort_keys=True),
            "explanation": (f"This {action} {kind} of {_money(amount, currency, params)} is "
                            + (f"{float(times):.1f} times " if times is not None else "")
                            + f"the user's median of {_money(_units(stats.median), currency, params)} over "
                            f"{stats.n} {source} {action} {kind}s (robust z-score {float(z):.1f})."),
            "file_id": file_id, "line_no": line_no,
        }


def _spikes(params, groups, threshold, ratio) -> Iterator[tuple]:
    """(group, key, amount, z, stats) of every spike, from the groups of sorted rows."""
    for group_key, group in groups:
        group = list(group)
        if len(group) < params.spike_min_samples:
            continue
        top = group[-1][4]
        if group[len(group) // 2][4] == top:  # the largest amount is the median: nothing stands out above it
            continue
        stats = RobustScale([r[4] for r in group])
        if not stats.scale:
            continue
        for *_, amount, key in reversed(group):  # largest first
            z = stats.z(amount)
            if z is None or z <= threshold or (stats.median > 0 and amount < ratio * stats.median):
                break
            yield group_key, key, amount, z, stats


def _error_kinds(sql: str):
    return text(sql).bindparams(bindparam("error_kinds", value=list(ERROR_KINDS), expanding=True))


# The issues that began on their business date. An out_of_sync episode that opens with the user's first
# transaction in the logs may have begun any time before them (a sample's first night shows every wallet that
# was already off): it is not counted for that day.
BEGUN_THAT_DAY = ("WHERE discrepancy_id NOT IN (SELECT issues.discrepancy_id FROM discrepancy_report issues "
                  "JOIN balance_events first ON first.transaction_id = issues.first_transaction_id "
                  "WHERE issues.kind = 'out_of_sync' AND first.user_seq = 1)")


def error_days(conn: Connection, params: Params, scoped: str = "") -> Iterator[dict]:
    """Days whose error or discrepancy count is far above normal (robust z over all days with events)."""
    days = [r[0] for r in conn.execute(text("SELECT DISTINCT business_date FROM daily_event_counts "
                                            "ORDER BY business_date"))]
    if not days:
        return
    errors = dict(conn.execute(_error_kinds(
        "SELECT business_date, SUM(count_events) FROM daily_event_counts WHERE kind IN :error_kinds "
        "GROUP BY business_date")).all())
    # every issue that began on its day, read once: its count per day, and each day's first one (where it was
    # logged is where the finding points)
    discrepancies: dict[str, int] = {}
    first_issue: dict[str, tuple] = {}
    for day, seen_at, file_id, line_no in conn.execute(text(
            f"SELECT business_date, first_seen_at, file_id, line_no FROM discrepancy_report {BEGUN_THAT_DAY} "
            "ORDER BY business_date, first_seen_at, discrepancy_id")):
        discrepancies[day] = discrepancies.get(day, 0) + 1
        first_issue.setdefault(day, (seen_at, file_id, line_no))
    # a day's first error event: the files that hold the day's errors (file_event_counts), then their rows by the
    # (file, line) index of parsed_logs
    first_error = _error_kinds(
        "SELECT ts, file_id, line_no FROM parsed_logs WHERE file_id IN (SELECT file_id FROM file_event_counts "
        "WHERE business_date = :day AND kind IN :error_kinds) AND business_date = :day AND kind IN :error_kinds "
        "ORDER BY ts, kind, event_id LIMIT 1")
    metrics = {
        "errors": (errors, lambda day: conn.execute(first_error, {"day": day}).first(),
                   "errors (failed syncs, crashes, invoke errors)"),
        "discrepancies": (discrepancies, first_issue.get, "discrepancies first seen"),
    }
    threshold = Fraction(params.error_day_threshold)
    base = params.detector_parameters()["error_day"]
    for metric, (counts, first_of, label) in metrics.items():
        values = sorted(counts.get(d, 0) for d in days)
        stats = RobustScale(values)
        for day in days:
            count = counts.get(day, 0)
            z = stats.z(count)
            if z is None or z <= threshold or count < params.error_day_min_count:
                continue
            first_ts, *where = first_of(day) or (None, None, None)
            med = float(stats.median)
            yield {
                "fingerprint": f"error_day:{metric}:{day}", "detector": "error_day",
                "severity": "high" if z >= 2 * threshold else "medium",
                "user_id": None, "currency": None, "transaction_id": None, "detected_at": first_ts,
                "business_date": day, "score": round(float(z), 3), "amount": None,
                "parameters": json.dumps({**base, "metric": metric, "count": count, "median": f"{med:g}",
                                          "days": len(days), "spread": stats.method},
                                         separators=(",", ":"), sort_keys=True),
                "explanation": (f"{day} had {count} {label}, against a median of {med:g} a day "
                                f"(robust z-score {float(z):.1f} over {len(days)} days)."),
                "file_id": where[0], "line_no": where[1],
            }
