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


def test_row_number_on_sqlite_numbers_rows_in_insert_order():
    """dialect.row_number: ROW_NUMBER() on PostgreSQL; on SQLite NULL ids that the INTEGER PRIMARY KEY fills in
    the order the runner inserts by (transform/steps.py appends the ORDER BY)."""
    from transform.dialect import row_number
    from transform.steps import _ORDER

    assert row_number("a, b", "postgresql") == "ROW_NUMBER() OVER (ORDER BY a, b)"
    body = f"select {row_number('k desc, v', 'sqlite')} as id, k, v from src"
    order = _ORDER.search(body).group(1)
    assert order == "k desc, v"
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE src (k INTEGER, v TEXT)")
    con.executemany("INSERT INTO src VALUES (?, ?)", [(1, "b"), (3, "a"), (2, "c"), (3, "b"), (1, "a")])
    con.execute("CREATE TABLE dst (id INTEGER NOT NULL, k INTEGER, v TEXT, PRIMARY KEY (id))")
    con.execute(f"INSERT INTO dst (id, k, v) SELECT id, k, v FROM ({body}) AS final_rows ORDER BY {order}")
    got = con.execute("SELECT id, k, v FROM dst ORDER BY id").fetchall()
    want = con.execute("SELECT ROW_NUMBER() OVER (ORDER BY k desc, v), k, v FROM src ORDER BY 1").fetchall()
    assert got == want


def test_pair_splits_back_into_its_two_texts():
    """dialect.pair: one subquery returns two timestamps as one value; pair_first/pair_second take them apart
    (NULL stays NULL). PostgreSQL's SPLIT_PART is checked in tests/test_postgres_parity.py with the whole build."""
    from transform.dialect import pair, pair_first, pair_second

    con = sqlite3.connect(":memory:")
    for a, b in [("2024-01-07T23:59:59.999Z", "2024-01-08T00:00:00.000Z"), ("x", ""), ("", "y")]:
        value = f"(SELECT {pair(':a', ':b')})"
        got = con.execute(f"SELECT {pair_first(value, 'sqlite')}, {pair_second(value, 'sqlite')}",
                          {"a": a, "b": b}).fetchone()
        assert got == (a, b)
    assert con.execute(f"SELECT {pair_first('NULL', 'sqlite')}, {pair_second('NULL', 'sqlite')}").fetchone() == \
        (None, None)
    assert pair_first("v", "postgresql") == "SPLIT_PART(v, '|', 1)"
