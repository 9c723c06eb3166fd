"""Where SQLite and PostgreSQL disagree: small named SQL helpers, in this one place.

The transform SQL files are Jinja templates. They may call only the helpers
below (exposed as template globals); every value still travels as a bound
parameter, never formatted into the text. Everything else in transform/*.sql
is plain SQL that both databases read the same way:

- booleans are written as comparisons, TRUE and FALSE (SQLite >= 3.23 reads
  them as 1 and 0), and counted with SUM(CASE WHEN … THEN 1 ELSE 0 END);
- integer division and % truncate toward zero on both, so money arithmetic on
  BIGINT micro-units is exact and identical;
- weekdays and local times are plain integer arithmetic on epoch
  milliseconds (no strftime / EXTRACT);
- `UPDATE … FROM` has the same syntax on SQLite >= 3.33 and PostgreSQL;
- `WITH x AS [NOT] MATERIALIZED (…)` is read by SQLite >= 3.35 and PostgreSQL >= 12.
"""
from __future__ import annotations

from functools import lru_cache

import jinja2

MICROS = 1_000_000
DAY_MS = 86_400_000


def round_half_up(expr: str, unit: str) -> str:
    """`expr` (micros) rounded half away from zero to a multiple of `unit` (micros), as exact integers."""
    return (f"(CASE WHEN ({expr}) < 0 THEN -((-({expr}) + ({unit}) / 2) / ({unit}) * ({unit})) "
            f"ELSE (({expr}) + ({unit}) / 2) / ({unit}) * ({unit}) END)")


def money_text(expr: str, cur: str = "cur") -> str:
    """Text of a micros amount rounded half-up (away from zero) to the currency's minor unit:
    1234.5 BHD -> '1234.500'. `cur` is the alias of a joined ref_currencies row (LEFT JOIN is fine: a
    missing currency is shown with 2 decimals). Exact integer arithmetic: m = (|x| + u/2) / u whole minor
    units; the result is negative exactly when x <= -u/2."""
    unit = f"COALESCE({cur}.unit_micros, 10000)"
    pow10 = f"COALESCE({cur}.pow10, 100)"
    units = f"((ABS({expr}) + {unit} / 2) / {unit})"
    return (f"(CASE WHEN ({expr}) IS NULL THEN 'n/a' ELSE "
            f"(CASE WHEN ({expr}) <= -({unit} / 2) THEN '-' ELSE '' END) || CAST({units} / {pow10} AS TEXT) || "
            f"(CASE WHEN {pow10} > 1 THEN '.' || SUBSTR(CAST({pow10} + {units} % {pow10} AS TEXT), 2) ELSE '' END) "
            f"END)")


def money_text_with_currency(expr: str, cur: str = "cur", currency: str = "currency") -> str:
    return f"({money_text(expr, cur)} || ' ' || COALESCE({currency}, '?'))"


def string_agg(expr: str, separator: str, dialect: str) -> str:
    """Aggregate text values with a separator (order unspecified)."""
    if dialect == "postgresql":
        return f"STRING_AGG({expr}, '{separator}')"
    return f"GROUP_CONCAT({expr}, '{separator}')"


def is_distinct(a: str, b: str, dialect: str) -> str:
    """Null-safe inequality: NULL vs 1 is distinct, NULL vs NULL is not."""
    if dialect == "postgresql":
        return f"{a} IS DISTINCT FROM {b}"
    return f"{a} IS NOT {b}"


ORDER_MARK = "/* numbered in insert order: ORDER BY "


def row_number(order: str, dialect: str) -> str:
    """1, 2, 3 … in the given order, for a table's id column. PostgreSQL numbers with the window function.
    SQLite gives NULL, so the INTEGER PRIMARY KEY takes the next rowid, and the runner inserts the rows in this
    order (transform/runner.py): the same numbers, without a window that copies every wide row twice more."""
    if dialect == "postgresql":
        return f"ROW_NUMBER() OVER (ORDER BY {order})"
    return f"NULL {ORDER_MARK}{order} */"


PAIR_SEPARATOR = "|"  # never in the texts paired (ISO timestamps)


def pair(first: str, second: str) -> str:
    """Two texts in one value, so that one correlated subquery (one index seek) returns both."""
    return f"({first} || '{PAIR_SEPARATOR}' || {second})"


def pair_first(expr: str, dialect: str) -> str:
    """The first text of a `pair` (NULL for NULL)."""
    if dialect == "postgresql":
        return f"SPLIT_PART({expr}, '{PAIR_SEPARATOR}', 1)"
    return f"SUBSTR({expr}, 1, INSTR({expr}, '{PAIR_SEPARATOR}') - 1)"


def pair_second(expr: str, dialect: str) -> str:
    """The second text of a `pair` (NULL for NULL)."""
    if dialect == "postgresql":
        return f"SPLIT_PART({expr}, '{PAIR_SEPARATOR}', 2)"
    return f"SUBSTR({expr}, INSTR({expr}, '{PAIR_SEPARATOR}') + 1)"


def days_between(start: str, end: str, dialect: str) -> str:
    """Whole days from one YYYY-MM-DD text to another (a business-date difference, never negative here)."""
    if dialect == "postgresql":
        return f"(CAST({end} AS DATE) - CAST({start} AS DATE))"
    return f"CAST(JULIANDAY({end}) - JULIANDAY({start}) AS INTEGER)"


def first_month_from(ts: str, dialect: str) -> str:
    """The earliest business month ('YYYY-MM') of any time at or after the ISO time `ts` ('' for ''): the month
    of the day before its UTC date, since a business time is less than a day from UTC."""
    if dialect == "postgresql":
        before = f"TO_CHAR(CAST(SUBSTR({ts}, 1, 10) AS DATE) - 1, 'YYYY-MM')"
    else:
        before = f"SUBSTR(DATE(SUBSTR({ts}, 1, 10), '-1 day'), 1, 7)"
    return f"(CASE WHEN {ts} = '' THEN '' ELSE {before} END)"


def seconds_before(ts: str, seconds: str, dialect: str) -> str:
    """The ISO time, as `ts` is stored ('YYYY-MM-DDTHH:MM:SS.mmmZ'), `seconds` (an integer) before `ts`."""
    if dialect == "postgresql":
        return (f"TO_CHAR(CAST(SUBSTR({ts}, 1, 23) AS TIMESTAMP) - ({seconds}) * INTERVAL '1 second', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
    return f"STRFTIME('%Y-%m-%dT%H:%M:%fZ', {ts}, '-' || ({seconds}) || ' seconds')"


def int_text(expr: str) -> str:
    return f"CAST({expr} AS TEXT)"


def json_text(expr: str) -> str:
    """A text value as a JSON string literal (only `"` and `\\` need escaping in our ids and actions)."""
    return f"('\"' || REPLACE(REPLACE({expr}, '\\', '\\\\'), '\"', '\\\"') || '\"')"


def local_ms(ts_ms: str, tz: str = "tz") -> str:
    """Epoch milliseconds shifted into business time; `tz` is a joined ref_tz_offsets row."""
    return f"(({ts_ms}) + {tz}.offset_ms)"


def local_minute_of_day(ts_ms: str, tz: str = "tz") -> str:
    return f"(({local_ms(ts_ms, tz)} % {DAY_MS}) / 60000)"


def local_weekday(ts_ms: str, tz: str = "tz") -> str:
    """0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday)."""
    return f"((({local_ms(ts_ms, tz)} / {DAY_MS}) + 4) % 7)"


def tz_join(ts_ms: str, tz: str = "tz") -> str:
    """Join condition that picks the business-time offset in force at `ts_ms`."""
    return f"({ts_ms}) >= {tz}.valid_from_ms AND ({ts_ms}) < {tz}.valid_to_ms"


SCOPE_USERS, SCOPE_DAYS = "scope_users", "scope_days"  # an incremental build's keys (transform/scope.py)


def user_in_scope(column: str) -> str:
    """True for the rows of a user an incremental build rebuilds (a NULL user: the transactions without one,
    when they are in scope). Written so that an index on the column is used."""
    return (f"({column} IN (SELECT user_id FROM {SCOPE_USERS} WHERE user_id IS NOT NULL) OR ({column} IS NULL "
            f"AND EXISTS (SELECT 1 FROM {SCOPE_USERS} WHERE user_id IS NULL)))")


def in_tail(table: str, ts: str = "ts") -> str:
    """True for a stored row (with user_id, the transaction's time in `ts`, and transaction_id) that an incremental
    build derives again: at or after its user's first change (scope_users.since_ts, since_tx). The rows before it
    stay as they are. (int_ledger says it of its own rows: int_ledger.is_tail.)"""
    return (f"NOT EXISTS (SELECT 1 FROM {SCOPE_USERS} changes WHERE changes.user_id = {table}.user_id "
            f"AND ({table}.{ts}, {table}.transaction_id) < (changes.since_ts, changes.since_tx))")


def day_in_scope(column: str) -> str:
    """True for the rows of a business day an incremental build rebuilds."""
    return f"{column} IN (SELECT business_date FROM {SCOPE_DAYS})"


@lru_cache(maxsize=8)
def environment(dialect: str) -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.update(
        dialect=dialect,
        round_half_up=round_half_up,
        money_text=money_text,
        money=money_text_with_currency,
        string_agg=lambda expr, sep=",": string_agg(expr, sep, dialect),
        int_text=int_text,
        days_between=lambda start, end: days_between(start, end, dialect),
        first_month_from=lambda ts: first_month_from(ts, dialect),
        seconds_before=lambda ts, seconds: seconds_before(ts, seconds, dialect),
        pair=pair,
        pair_first=lambda expr: pair_first(expr, dialect),
        pair_second=lambda expr: pair_second(expr, dialect),
        is_distinct=lambda a, b: is_distinct(a, b, dialect),
        row_number=lambda order: row_number(order, dialect),
        json_text=json_text,
        local_minute_of_day=local_minute_of_day,
        local_weekday=local_weekday,
        tz_join=tz_join,
        user_in_scope=user_in_scope,
        in_tail=in_tail,
        day_in_scope=day_in_scope,
    )
    return env


def render(template: str, dialect: str, scoped: str = "") -> str:
    """The SQL of a template; `scoped` ("seek" or "scan", transform/scope.py): for an incremental build, which
    reads the changed users and days only (the templates test it: {% if scoped %} … {% endif %})."""
    return environment(dialect).from_string(template).render(scoped=scoped)
