"""The SQL money helpers agree with db.money (Decimal, half-up) on every value near a rounding edge."""
from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from db.money import quantize
from transform.dialect import money_text, round_half_up

PRECISION = {"BHD": 3, "SAR": 2}
EDGES = [-5000, -4999, -500, -499, 0, 499, 500, 4999, 5000, 123_456_789, -123_456_789, 1_000_000_000_000]


@pytest.fixture(scope="module")
def con():
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE cur (currency TEXT, unit_micros INTEGER, pow10 INTEGER)")
    con.executemany("INSERT INTO cur VALUES (?, ?, ?)", [("BHD", 1000, 1000), ("SAR", 10000, 100)])
    return con


@pytest.mark.parametrize("currency", ["BHD", "SAR"])
def test_money_text_rounds_half_up_like_decimal(con, currency):
    for x in [*range(-20_000, 20_000, 7), *EDGES]:
        got = con.execute(f"SELECT {money_text(':x', 'cur')} FROM cur WHERE currency = :c",
                          {"x": x, "c": currency}).fetchone()[0]
        want = quantize(Decimal(x) / 10**6, currency, PRECISION)
        assert got == str(abs(want) if want == 0 else want), x


def test_round_half_up_goes_away_from_zero(con):
    rows = con.execute(f"SELECT {round_half_up(':x', '1000')}", {"x": 1500}).fetchone(), \
        con.execute(f"SELECT {round_half_up(':x', '1000')}", {"x": -1500}).fetchone(), \
        con.execute(f"SELECT {round_half_up(':x', '1000')}", {"x": -1499}).fetchone()
    assert rows == ((2000,), (-2000,), (-1000,))
