"""Values at the edge of a report: micro-units to currency amounts, ISO text to spreadsheet dates.

Money stays an integer count of micro-units (db/money.py) until a cell is
written. There it is quantized half-up to the currency's minor unit, as a
Decimal, and only then, for the workbook, turned into a number.
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache

from db.money import money, places_of  # noqa: F401 (part of this module's interface: reports use cells.*)

_EXCEL_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()  # serial 0 in the 1900 date system (after its leap bug)
_MS_PER_DAY = 86_400_000
_MINUTES_PER_DAY = 1440
_UNIX_EPOCH_SERIAL = 25_569  # 1970-01-01


def money_number(micros: int | None, currency: str | None, precision: dict[str, int]) -> float | None:
    """The amount as the number a spreadsheet cell holds.

    Exact to the currency precision: the quantized Decimal has at most 3
    decimals and far fewer than 15 significant digits (a balance of a trillion
    with 3 decimals is 16 digits; ours are below 10**9), and an IEEE double
    round-trips every decimal of up to 15 significant digits. So the float is
    the closest double to the exact amount and Excel, which shows at most 15
    digits, displays and sums it as that amount. Converting the quantized
    Decimal (not micros / 10**6 in floating point) is what keeps the cell equal
    to the figure in the CSV and the HTML.
    """
    value = money(micros, currency, precision)
    return None if value is None else float(value)


def number_format(places: int) -> str:
    """'#,##0.000;[Red]-#,##0.000' for 3 decimals, '#,##0.00;[Red]-#,##0.00' for 2: thousands separators, the
    currency's decimals, negatives in red."""
    positive = "#,##0" + ("." + "0" * places if places else "")
    return f"{positive};[Red]-{positive}"


@lru_cache(maxsize=4096)
def excel_date(business_date: str | None) -> int | None:
    """'2024-01-08' -> the spreadsheet date serial (a real date cell once given a date format)."""
    if not business_date:
        return None
    return date.fromisoformat(business_date[:10]).toordinal() - _EXCEL_EPOCH_ORDINAL


@lru_cache(maxsize=65536)
def _excel_minute(prefix: str) -> float:
    """'2024-01-08T21:01' -> the serial of that minute (cached: a ledger has far fewer minutes than rows)."""
    return excel_date(prefix[:10]) + (int(prefix[11:13]) * 60 + int(prefix[14:16])) / _MINUTES_PER_DAY


def excel_datetime(ts: str | int | None) -> float | None:
    """'2024-01-08T21:01:00.123Z' (UTC), or epoch milliseconds -> date serial plus the fraction of the day."""
    if ts is None or ts == "":
        return None
    if ts.__class__ is int:
        return ts / _MS_PER_DAY + _UNIX_EPOCH_SERIAL
    if len(ts) < 16:
        return float(excel_date(ts[:10]))
    millis = int(ts[17:19]) * 1000 if len(ts) >= 19 else 0
    if len(ts) >= 23 and ts[19] == ".":
        millis += int(ts[20:23])
    return _excel_minute(ts[:16]) + millis / _MS_PER_DAY
