"""Exact money: how amounts travel from log text to the screen.

The database keeps every amount as a BIGINT count of micro-units (millionths
of the currency unit, `value * 10**6`). Integers are exact on SQLite and
PostgreSQL alike, so SQL transforms can add and compare them with the same
statements on both. Six decimals cover every currency's minor unit (at most
3) and the 4-decimal balances the Lambda prints; only float noise such as
`225.90753636363627` has more digits: it is rounded half-even to the micro
and flagged (`is_float_noise`), while the literal as printed is kept beside it
in the `*_text` column. Python code turns micros into `Decimal`, never float.
"""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

SCALE = 10**6
MAX_MICROS = 2**63 - 1  # BIGINT: ±9,223,372,036,854.775807 of a currency
_MICRO = Decimal("0.000001")
DEFAULT_PRECISION = 2


def to_micros(value: Decimal) -> tuple[int, bool]:
    """(micro-units, exact?) for a finite Decimal; exact is False when digits beyond 6 decimals were rounded."""
    scaled = value * SCALE
    rounded = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
    return int(rounded), rounded == scaled


def parse_decimal(text: str) -> Decimal | None:
    """A finite Decimal from a number literal as printed (`'8'`, `-1.5`, `1e3`), or None."""
    try:
        value = Decimal(text.strip().strip("'\"`"))
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


def from_micros(micros: int | None) -> Decimal | None:
    if micros is None:
        return None
    return (Decimal(int(micros)) / SCALE).normalize() if micros else Decimal(0)


@lru_cache(maxsize=64)
def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def places_of(currency: str | None, precision: dict[str, int]) -> int:
    return precision.get((currency or "").upper(), DEFAULT_PRECISION)


def quantize(value: Decimal, currency: str | None, precision: dict[str, int]) -> Decimal:
    """Round half-up to the currency's minor unit (what accountants expect on paper)."""
    return value.quantize(_quantum(places_of(currency, precision)), rounding=ROUND_HALF_UP)


def format_money(micros: int | Decimal | None, currency: str | None, precision: dict[str, int],
                 with_currency: bool = False) -> str:
    """`1234.5` BHD -> '1,234.500'; empty string for missing values."""
    if micros is None:
        return ""
    value = micros if isinstance(micros, Decimal) else from_micros(micros)
    text = f"{quantize(value, currency, precision):,}"
    return f"{text} {currency}" if with_currency and currency else text


def money(micros: int | None, currency: str | None, precision: dict[str, int]) -> Decimal | None:
    """Micro-units -> Decimal rounded half-up to the currency's minor unit (`-3000000`, BHD -> `-3.000`)."""
    if micros is None:
        return None
    value = quantize(Decimal(int(micros)) / SCALE, currency, precision)
    return value + 0 if value.is_zero() else value  # -0.0004 rounds to 0.000, not -0.000
