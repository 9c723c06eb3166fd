"""Whole-database snapshots that can be compared across runs and across backends.

A snapshot is every table's rows, sorted, with the run's bookkeeping left out:
which run loaded a file and when (`run_id`, `ingested_at`, the `ingest_runs`
table), how many transactions it took (the ingest generation and the build's
record of it), and the path a file was named by below what the run was given
(`relative_path`: a folder, or the file itself) differ between two runs that
loaded the same data. Keys that come from
a sequence (`quarantine_id`, `conflict_id`) are left out too: PostgreSQL
sequences are not transactional, so a rolled-back load leaves gaps in them.
`file_id` (and `end_file_id`, …) is replaced by the file's path and member, which is what it stands for.

Only SQLAlchemy Core on reflected tables: no SQL text, no psql.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import Boolean, Float, Integer, Numeric, MetaData, func, select

from db.engine import make_engine

# ingest_generation counts the transactions that changed the data (and transform_state records it): a killed
# and resumed ingest takes more of them than an uninterrupted one to end in the same data
BOOKKEEPING_TABLES = frozenset({"ingest_runs", "alembic_version", "alert_state", "ingest_generation",
                                "transform_state", "pending_changes"})
BOOKKEEPING_COLUMNS = frozenset({"run_id", "ingested_at", "relative_path"})
SEQUENCE_KEYS = frozenset({"quarantine_id", "conflict_id"})
NOT_AMOUNTS = ("_id", "line_no", "ts_ms", "_seq")  # numeric columns that are not quantities


def reflect(url: str) -> tuple:
    engine = make_engine(url, readonly=True)
    meta = MetaData()
    meta.reflect(engine)
    return engine, meta


FLOAT_DIGITS = 12  # float columns (scores, durations) are compared to 12 significant digits


def normalise(value):
    """The same value the same way on both backends.

    NUMERIC arrives as Decimal on PostgreSQL only. A float computed in SQL may differ in its last
    bit between the two (e.g. 3521.739130434783 and 3521.7391304347825): floats never hold money
    here, so they are compared to FLOAT_DIGITS significant digits."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, float):
        return float(f"{value:.{FLOAT_DIGITS}g}")
    return value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)


def row_counts(url: str) -> dict[str, int]:
    engine, meta = reflect(url)
    try:
        with engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                    for name, table in sorted(meta.tables.items())}
    finally:
        engine.dispose()


def schema(url: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """{table: (column names, index names)}: a killed bulk load must not leave an index missing."""
    from sqlalchemy import inspect
    engine = make_engine(url, readonly=True)
    try:
        insp = inspect(engine)
        return {name: (tuple(sorted(c["name"] for c in insp.get_columns(name))),
                       tuple(sorted(ix["name"] for ix in insp.get_indexes(name))))
                for name in sorted(insp.get_table_names())}
    finally:
        engine.dispose()


def snapshot(url: str, skip_tables: frozenset = BOOKKEEPING_TABLES) -> dict[str, list[tuple]]:
    """{table: sorted rows} without bookkeeping columns, file ids replaced by (path, member)."""
    engine, meta = reflect(url)
    out: dict[str, list[tuple]] = {}
    try:
        with engine.connect() as conn:
            files = meta.tables.get("ingested_files")
            paths = {} if files is None else {
                r.file_id: (r.path, r.member) for r in conn.execute(select(files.c.file_id, files.c.path,
                                                                           files.c.member))}
            for name, table in sorted(meta.tables.items()):
                if name in skip_tables:
                    continue
                cols = [c for c in table.columns if c.name not in BOOKKEEPING_COLUMNS | SEQUENCE_KEYS]
                file_at = [i for i, c in enumerate(cols) if c.name.endswith("file_id")]  # end_file_id, …
                rows = []
                for rec in conn.execute(select(*cols)):
                    row = [normalise(v) for v in rec]
                    for at in file_at:
                        if row[at] is not None:
                            row[at] = paths.get(row[at], ("<no such file>", row[at]))
                    rows.append(tuple(row))
                out[name] = sorted(rows, key=_sort_key)
    finally:
        engine.dispose()
    return out


def describe_difference(a: dict[str, list[tuple]], b: dict[str, list[tuple]], label_a: str, label_b: str,
                        limit: int = 3) -> list[str]:
    """Human-readable lines for every table whose rows differ (empty when equal)."""
    lines = []
    for name in sorted(set(a) | set(b)):
        rows_a, rows_b = a.get(name), b.get(name)
        if rows_a == rows_b:
            continue
        if rows_a is None or rows_b is None:
            lines.append(f"{name}: only in {label_a if rows_b is None else label_b}")
            continue
        set_a, set_b = set(rows_a), set(rows_b)
        only_a = [r for r in rows_a if r not in set_b][:limit]
        only_b = [r for r in rows_b if r not in set_a][:limit]
        lines.append(f"{name}: {len(rows_a)} rows in {label_a}, {len(rows_b)} in {label_b}; "
                     f"only in {label_a}: {only_a}; only in {label_b}: {only_b}")
    return lines


def amount_columns(table) -> list:
    """Exact numeric columns that hold quantities (micro-unit amounts, counts), not ids or positions.

    Floats (scores, durations) are left out: their sums depend on the order of addition."""
    return [c for c in table.columns
            if isinstance(c.type, (Integer, Numeric)) and not isinstance(c.type, (Boolean, Float))
            and not c.name.endswith(NOT_AMOUNTS) and c.name not in BOOKKEEPING_COLUMNS]


def sums_per_currency(url: str) -> dict[tuple[str, str, str | None], Decimal]:
    """{(table, column, currency): exact SUM} for every table with a currency column."""
    engine, meta = reflect(url)
    out: dict = defaultdict(Decimal)
    try:
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                if "currency" not in table.c or name in BOOKKEEPING_TABLES:
                    continue
                cols = amount_columns(table)
                if not cols:
                    continue
                query = select(table.c.currency, *(func.sum(c) for c in cols)).group_by(table.c.currency)
                for rec in conn.execute(query):
                    for col, total in zip(cols, rec[1:]):
                        if total is not None:
                            out[(name, col.name, rec[0])] = _exact(total)
    finally:
        engine.dispose()
    return dict(out)


def _exact(total) -> Decimal:
    """SUM(bigint) is int on SQLite and Decimal on PostgreSQL; both become the same Decimal."""
    return Decimal(total)


def events_table(engine) -> str:
    """Every log event (db/events.py) as SQL to select from (`SELECT … FROM {events_table(engine)}`): what a
    reader of every event scans, whichever table holds each one."""
    from db.events import every_event
    return "(" + str(every_event().compile(engine, compile_kwargs={"literal_binds": True})) + ") AS events"


def events_sql(engine, sql: str) -> str:
    """`sql` with {events} as every log event."""
    return sql.replace("{events}", events_table(engine))
