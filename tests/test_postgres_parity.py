"""A realistic export gives the same database on SQLite and on PostgreSQL.

The real export when it is beside the checkout, else the sample export: both
fixtures ingest all of it with `pipeline.run` and rebuild the derived tables,
so this covers the loader and every transform. Money is
compared as exact sums per currency, in micro-units and as printed to the
currency's decimals; everything else row by row.
"""
from __future__ import annotations

import pytest

from db.money import format_money
from tests import dbsnap

pytestmark = pytest.mark.postgres

DEFAULT_PRECISION = {"BHD": 3, "KWD": 3, "OMR": 3}


def test_same_tables_and_row_counts(realistic_db, realistic_db_pg):
    sqlite_counts, pg_counts = dbsnap.row_counts(realistic_db), dbsnap.row_counts(realistic_db_pg)
    assert sorted(pg_counts) == sorted(sqlite_counts)
    # Bookkeeping differs by design: other tests run ingest again on the shared realistic_db (one more run row).
    data = sorted(set(sqlite_counts) - dbsnap.BOOKKEEPING_TABLES)
    assert {t: pg_counts[t] for t in data} == {t: sqlite_counts[t] for t in data}
    assert sqlite_counts["balance_events"] > 0 and sqlite_counts["parsed_logs"] > 0


def test_same_sums_per_currency_to_the_last_decimal(realistic_db, realistic_db_pg):
    sqlite_sums, pg_sums = dbsnap.sums_per_currency(realistic_db), dbsnap.sums_per_currency(realistic_db_pg)
    currencies = {currency for (table, _col, currency) in sqlite_sums if table == "balance_events"}
    assert len(currencies) >= 2, "a realistic export has several currencies"
    assert ("balance_events", "amount", "SAR") in sqlite_sums
    assert pg_sums.keys() == sqlite_sums.keys()
    different = {key: (sqlite_sums[key], pg_sums[key]) for key in sqlite_sums if sqlite_sums[key] != pg_sums[key]}
    assert not different, f"sums differ (sqlite, postgresql): {different}"
    # And as a person reads them: every money total prints the same, to the currency's last decimal.
    for (table, column, currency), micros in sqlite_sums.items():
        if table == "balance_events":
            assert format_money(int(pg_sums[(table, column, currency)]), currency, DEFAULT_PRECISION) == \
                format_money(int(micros), currency, DEFAULT_PRECISION)


def test_same_rows_in_every_table(realistic_db, realistic_db_pg):
    sqlite_rows, pg_rows = dbsnap.snapshot(realistic_db), dbsnap.snapshot(realistic_db_pg)
    problems = dbsnap.describe_difference(sqlite_rows, pg_rows, "sqlite", "postgresql")
    assert not problems, "\n".join(problems)
