"""The ordered list of transform steps, and the one function that runs them.

A step is either a SQL file (a select; the runner wraps it in the INSERT or
UPDATE that writes its table) or a Python function where SQL is the wrong
tool (edit distance, robust statistics). `plan()` returns the statements in
order without running them (`python -m transform --dry-run` prints it);
`build_all()` runs them all in one transaction, so readers see the previous
build until the new one is complete.
"""
from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from sqlalchemy import bindparam, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from db.writer import insert_rows
from settings import Settings
from transform import robust, seeds
from transform.dialect import ORDER_MARK, is_distinct, render
from transform.params import Params, from_settings
from transform.state import record_state
from transform.tables import BY_NAME, INDEXES, PUBLIC_TABLES

HERE = Path(__file__).resolve().parent

# The columns of balance_events that transform/balance_events.sql fills.
BALANCE_EVENT_COLUMNS = (
    "net_change", "expected_new_balance", "calc_difference", "is_calc_mismatch", "suggested_adjustment",
    "user_seq", "prev_new_balance", "is_continuity_break", "continuity_gap", "is_overdraft_actual",
    "is_overdraft_expected", "is_overdraft_wallet", "is_overdraft_crossing", "overdraft_reason")

# Anomaly detectors written in SQL, one file each under transform/detectors/ (docs/transforms.md).
SQL_DETECTORS = ("frequent_discrepancies", "vat_mismatch", "unknown_action", "duplicate_transaction",
                 "rapid_deduction", "burst", "off_hours_manual", "float_noise", "multi_currency", "test_user",
                 "negative_amount", "continuity_gap")
PYTHON_DETECTORS = (robust.amount_spikes, robust.error_days)
SQLITE_CACHE_KB = 64 * 1024
SQLITE_TEMP_CACHE_KB = 16 * 1024
INTERMEDIATE_TABLES = ("int_ledger_order", "int_ledger", "int_anomaly_findings")  # dropped at the end of a build

_BIND = re.compile(r"(?<![:\w\\]):(\w+)")
_ORDER = re.compile(re.escape(ORDER_MARK) + r"(.*?) \*/")


@dataclasses.dataclass(frozen=True)
class Statement:
    step: str
    sql: str
    params: dict

    def executable(self):
        stmt = text(self.sql)
        expanding = [bindparam(k, expanding=True) for k, v in self.params.items() if isinstance(v, (list, tuple))]
        return stmt.bindparams(*expanding) if expanding else stmt


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    table: str
    kind: str  # seed | update | rebuild | append | python
    sql_file: str | None = None
    func: Callable | None = None

    def describe(self) -> str:
        if self.sql_file:
            return f"{self.name}: {self.kind} {self.table} from transform/{self.sql_file}"
        if self.func is None:
            return f"{self.name}: create {self.table} empty (the detectors below append to it)"
        return f"{self.name}: {self.kind} {self.table} by {self.func.__module__}.{self.func.__name__}"


def steps() -> list[Step]:
    """Dependency order: seeds, balance_events, discrepancies, findings, anomalies, then what reads them."""
    out = [Step(f"seed {table.name}", table.name, "seed", func=fn) for table, fn in seeds.SEEDS]
    out.append(Step("int_ledger_order", "int_ledger_order", "rebuild", "int_ledger_order.sql"))
    out.append(Step("int_ledger", "int_ledger", "rebuild", "int_ledger.sql"))
    out.append(Step("balance_events", "balance_events", "update", "balance_events.sql"))
    out.append(Step("discrepancy_report", "discrepancy_report", "rebuild", "discrepancy_report.sql"))
    out.append(Step("daily_event_counts", "daily_event_counts", "rebuild", "daily_event_counts.sql"))
    out.append(Step("int_anomaly_findings", "int_anomaly_findings", "rebuild-empty"))
    out += [Step(f"detector {name}", "int_anomaly_findings", "append", f"detectors/{name}.sql")
            for name in SQL_DETECTORS]
    out += [Step(f"detector {fn.__name__}", "int_anomaly_findings", "python", func=fn) for fn in PYTHON_DETECTORS]
    out += [Step(name, name, "rebuild", f"{name}.sql")
            for name in ("anomalies", "user_balances", "daily_flows", "daily_health")]
    return out


def _select_sql(step: Step, dialect: str) -> str:
    return render((HERE / step.sql_file).read_text(), dialect).strip().rstrip(";")


def _columns(table: str) -> list[str]:
    return [c.name for c in BY_NAME[table].columns]


def _used(sql: str, bind: dict) -> dict:
    names = set(_BIND.findall(sql))
    return {k: v for k, v in bind.items() if k in names}


def statements(step: Step, dialect: str, bind: dict) -> list[Statement]:
    """The SQL a step runs (empty for Python steps: they are described, not printed)."""
    if step.kind == "update":
        body = _select_sql(step, dialect)
        assignments = ",\n    ".join(f"{c} = derived.{c}" for c in BALANCE_EVENT_COLUMNS)
        changed = "\n    OR ".join(is_distinct(f"balance_events.{c}", f"derived.{c}", dialect)
                                    for c in BALANCE_EVENT_COLUMNS)
        sql = (f"UPDATE balance_events SET\n    {assignments}\nFROM (\n{body}\n) AS derived\n"
               f"WHERE balance_events.event_id = derived.event_id\n"
               f"  AND balance_events.transaction_id = derived.transaction_id AND (\n    {changed})")
        return [Statement(step.name, sql, _used(sql, bind))]
    if step.kind in ("rebuild", "append"):
        body = _select_sql(step, dialect)
        cols = [c for c in _columns(step.table)]
        listed = ", ".join(cols)
        sql = f"INSERT INTO {step.table} ({listed})\nSELECT {listed} FROM (\n{body}\n) AS final_rows"
        numbered = _ORDER.search(body)
        if numbered:  # dialect.row_number on SQLite: ids are rowids given in insert order
            sql += f"\nORDER BY {numbered.group(1)}"
        out = [Statement(step.name, sql, _used(sql, bind))]
        out += [Statement(step.name,
                          f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {name} ON {step.table} ({cols_})",
                          {})
                for name, cols_, unique in INDEXES.get(step.table, []) if step.kind == "rebuild"]
        return out
    return []


def plan(dialect: str, params: Params) -> list[tuple[Step, list[Statement]]]:
    bind = params.bind()
    return [(step, statements(step, dialect, bind)) for step in steps()]


def _insert(conn: Connection, table: str, rows: Iterable[dict], batch: int = 5000) -> None:
    """Insert an iterable of row dicts in batches, so a streaming step never holds all its rows."""
    it = iter(rows)
    while chunk := list(islice(it, batch)):
        insert_rows(conn, BY_NAME[table], chunk)


def _recreate(conn: Connection, table: str) -> None:
    """An empty table of the current shape. On PostgreSQL an existing public table is emptied with DELETE:
    DROP would take an exclusive lock that makes every dashboard query wait for the whole build, while
    DELETE lets readers see the previous build until the transaction commits."""
    target = BY_NAME[table]
    if conn.dialect.name == "postgresql" and table not in INTERMEDIATE_TABLES:
        inspector = inspect(conn)
        existing = [c["name"] for c in inspector.get_columns(table)] if inspector.has_table(table) else []
        if existing == [c.name for c in target.columns]:
            conn.execute(target.delete())
            return
    conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    target.create(conn)


def _run_step(conn: Connection, step: Step, params: Params, bind: dict) -> None:
    dialect = conn.dialect.name
    if step.kind == "seed":
        _recreate(conn, step.table)
        _insert(conn, step.table, step.func(conn, params))
    elif step.kind in ("rebuild", "rebuild-empty"):
        _recreate(conn, step.table)
    elif step.kind == "python":
        _insert(conn, step.table, step.func(conn, params))
    for stmt in statements(step, dialect, bind):
        conn.execute(stmt.executable(), stmt.params)


def count_rows(conn: Connection, tables=PUBLIC_TABLES) -> dict[str, int]:
    return {name: conn.execute(select(func.count()).select_from(BY_NAME[name])).scalar_one() for name in tables}


def build_all(engine: Engine, settings: Settings, on_step: Callable[[Step, float], None] | None = None) -> dict:
    """Rebuild every derived table from the ingest tables; returns row counts per table and 'seconds'."""
    params = from_settings(settings)
    bind = params.bind()
    started = time.perf_counter()
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # The driver opens a transaction only at the first INSERT/UPDATE/DELETE, so the build's first
            # DROP/CREATE statements would each commit on their own and a dashboard could see a derived
            # table missing or empty. An explicit BEGIN makes the whole build one transaction.
            conn.exec_driver_sql("BEGIN")
            # sorts for the window functions spill to temporary files beyond this page cache, which keeps
            # a build of millions of rows within a few hundred MB
            conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
            # the intermediate tables are TEMPORARY (transform/tables.py), in the connection's own temp file with
            # its own page cache: 16 MB of it is ~7 CPU s less on the 100x sample than SQLite's 2 MB default,
            # with the peak memory unchanged (32 MB: 2 s more saved, 17 MB more memory)
            conn.exec_driver_sql(f"PRAGMA temp.cache_size = -{SQLITE_TEMP_CACHE_KB}")
            # This SQLite is built with SECURE_DELETE: every page a DROP TABLE frees is read, zeroed and written
            # again. A build drops the previous derived tables and, at the end, its intermediate ones (int_ledger
            # alone is ~0.9 GB with its indexes on the 100x sample; dropping it from the WAL cost 12 of the
            # build's 113 CPU seconds). Their rows are all derived from tables that stay in the same file, so
            # zeroing them hides nothing; FAST still clears deleted cells wherever that costs no extra I/O.
            # Restored afterwards, as the pooled connection is reused.
            secure_delete = conn.exec_driver_sql("PRAGMA secure_delete").scalar_one()
            conn.exec_driver_sql("PRAGMA secure_delete = FAST")
        try:
            for step in steps():
                t0 = time.perf_counter()
                _run_step(conn, step, params, bind)
                if on_step:
                    on_step(step, time.perf_counter() - t0)
            for table in INTERMEDIATE_TABLES:
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        finally:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA secure_delete = {int(secure_delete)}")
        record_state(conn, params)
        result = count_rows(conn)
        result["balance_events"] = conn.execute(text("SELECT COUNT(*) FROM balance_events")).scalar_one()
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def dry_run_text(dialect: str, settings: Settings) -> Iterator[str]:
    """The statements in order, as `python -m transform --dry-run` prints them."""
    params = from_settings(settings)
    for number, (step, stmts) in enumerate(plan(dialect, params), start=1):
        yield f"-- step {number}: {step.describe()}"
        if step.kind in ("seed", "rebuild", "rebuild-empty"):
            yield f"DROP TABLE IF EXISTS {step.table};  -- then CREATE TABLE {step.table} as in transform/tables.py"
        if step.func is not None:
            doc = ((step.func.__doc__ or "").strip().splitlines() or [step.describe()])[0]
            yield f"-- (python) {doc}"
        for stmt in stmts:
            yield stmt.sql + ";"
            if stmt.params:
                yield "-- parameters: " + ", ".join(f"{k}={v!r}" for k, v in sorted(stmt.params.items()))
        yield ""
    for table in INTERMEDIATE_TABLES:
        yield f"DROP TABLE IF EXISTS {table};"
