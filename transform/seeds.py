"""Small lookup tables made from the settings (dbt would call them seeds).

- ref_currencies: minor unit, VAT rate as an exact fraction and VAT tolerance, for
  every currency named in the settings or seen in balance_events;
- ref_tz_offsets: the business-time offset in force over time (one row for a
  fixed offset such as +03:00; one row per period for a zone with DST);
- ref_action_checks: every action seen, classified known / typo / unknown /
  invalid by closeness to KNOWN_ACTIONS (edit distance, which SQL cannot do).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.engine import Connection

from settings import _parse_tz
from transform.dialect import SCOPE_DAYS
from transform.params import Params
from transform.tables import ref_action_checks, ref_currencies, ref_tz_offsets

MIN_MS, MAX_MS = -(2**62), 2**62
ACTION_SHAPE = re.compile(r"^[A-Z][A-Z0-9_]*$")
DAY = timedelta(days=1)


def currencies(conn: Connection, params: Params, scoped: str = "") -> list[dict]:
    """Minor unit, VAT rate (an exact fraction) and VAT tolerance per currency. An incremental build (`scoped`)
    looks for new currencies on the changed days alone (every row a run adds is on one of them, in
    ix_balance_events_date), and keeps a stored one while a transaction still has it: the first one found ends
    the search, where listing the currencies of every transaction reads them all."""
    named = set(params.precision) | set(params.vat_rates)
    if scoped:
        seen = {r[0] for r in conn.execute(text(
            f"SELECT DISTINCT currency FROM balance_events WHERE business_date IN (SELECT business_date FROM "
            f"{SCOPE_DAYS}) AND currency IS NOT NULL"))}
        stored = [r[0] for r in conn.execute(text("SELECT currency FROM ref_currencies"))]
        seen |= {code for code in stored if code not in seen | named and conn.execute(
            text("SELECT 1 FROM balance_events WHERE currency = :code LIMIT 1"), {"code": code}).first()}
    else:
        seen = {r[0] for r in conn.execute(text("SELECT DISTINCT currency FROM balance_events "
                                                "WHERE currency IS NOT NULL"))}
    rows = []
    for code in sorted(seen | named):
        places = params.precision.get(code, 2)
        unit = 10 ** (6 - places)
        rate: Fraction | None = params.vat_rates.get(code)
        rows.append({"currency": code, "minor_unit": places, "unit_micros": unit, "pow10": 10 ** places,
                     "vat_rate_num": rate.numerator if rate is not None else None,
                     "vat_rate_den": rate.denominator if rate is not None else None,
                     "vat_tolerance_micros": int(params.vat_tolerance_units * unit)})
    return rows


def _offset_ms(tz, at: datetime) -> int:
    return int(at.astimezone(tz).utcoffset().total_seconds() * 1000)


def tz_offsets(conn: Connection, params: Params, scoped: str = "") -> list[dict]:
    """The offset of BUSINESS_TZ from UTC over the period of the data (one row unless the zone has DST)."""
    tz = _parse_tz(params.business_tz)
    if isinstance(tz, timezone):
        return [{"valid_from_ms": MIN_MS, "valid_to_ms": MAX_MS, "offset_ms": _offset_ms(tz, datetime.now(timezone.utc))}]
    # the data's business days (every event is counted in file_event_counts), a day wider each side for the UTC day
    lo, hi = conn.execute(text("SELECT MIN(business_date), MAX(business_date) FROM file_event_counts "
                               "WHERE business_date <> ''")).one()
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    day = (datetime.fromisoformat(lo).replace(tzinfo=timezone.utc) if lo else today) - 2 * DAY
    end = (datetime.fromisoformat(hi).replace(tzinfo=timezone.utc) if hi else today) + 2 * DAY
    rows, start_ms, current = [], MIN_MS, _offset_ms(tz, day)
    while day < end:
        nxt = day + DAY
        if _offset_ms(tz, nxt) != current:  # a change inside (day, nxt]: find the minute
            a, b = day, nxt
            while b - a > timedelta(minutes=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if _offset_ms(tz, mid) == current else (a, mid)
            change_ms = int(b.timestamp() * 1000)
            rows.append({"valid_from_ms": start_ms, "valid_to_ms": change_ms, "offset_ms": current})
            start_ms, current = change_ms, _offset_ms(tz, b)
        day = nxt
    rows.append({"valid_from_ms": start_ms, "valid_to_ms": MAX_MS, "offset_ms": current})
    return rows


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1."""
    prev2, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def check_action(action: str, known: tuple[str, ...], max_distance: int) -> dict:
    if action in known:
        return {"action": action, "status": "known", "closest_action": None, "distance": 0}
    if not ACTION_SHAPE.match(action):
        return {"action": action, "status": "invalid", "closest_action": None, "distance": None}
    best = min(known, key=lambda k: (edit_distance(action, k), k), default=None)
    distance = edit_distance(action, best) if best else None
    typo = best is not None and distance <= max_distance
    return {"action": action, "status": "typo" if typo else "unknown",
            "closest_action": best if typo else None, "distance": distance if typo else None}


def action_checks(conn: Connection, params: Params, scoped: str = "") -> list[dict]:
    """Every action seen, classified known / typo / unknown / invalid against KNOWN_ACTIONS."""
    # from daily_flows, built before this seed: the same actions as balance_events, one row per day and action
    # instead of one per transaction, and whole in an incremental build too (int_ledger then holds some users)
    seen = [r[0] for r in conn.execute(text("SELECT DISTINCT action FROM daily_flows WHERE action IS NOT NULL"))]
    return [check_action(a, params.known_actions, params.typo_distance) for a in sorted(seen)]


SEEDS = ((ref_currencies, currencies), (ref_tz_offsets, tz_offsets), (ref_action_checks, action_checks))
