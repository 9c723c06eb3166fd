"""The transform steps in order, and how one is run on a connection.

A step is either a SQL file (a select; it is wrapped here in the INSERT or
UPDATE that writes its table) or a Python function where SQL is the wrong
tool (edit distance, robust statistics). `plan()` returns the statements in
order without running them. Both ways of running a build use this module:
one connection (transform/runner.py) and two lanes (transform/lanes.py).
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path

from sqlalchemy import Column, MetaData, Table, bindparam, func, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from db import pending
from db.writer import insert_rows
from transform import robust, seeds
from transform.dialect import ORDER_MARK, SCOPE_USERS, day_in_scope, in_tail, is_distinct, render, user_in_scope
from transform.params import Params
from transform.state import record_state
from transform.tables import BY_NAME, INDEXES, PUBLIC_TABLES
from vocabulary import SQL_DETECTORS

HERE = Path(__file__).resolve().parent

# The columns of balance_events that transform/balance_events.sql fills.
BALANCE_EVENT_COLUMNS = (
    "net_change", "expected_new_balance", "calc_difference", "is_calc_mismatch", "suggested_adjustment",
    "user_seq", "prev_new_balance", "is_continuity_break", "continuity_gap", "is_overdraft_actual",
    "is_overdraft_expected", "is_overdraft_wallet", "is_overdraft_crossing", "overdraft_reason")

INTERMEDIATE_TABLES = ("int_ledger_order", "int_ledger", "int_anomaly_findings")  # dropped at the end of a build

_DIALECTS = {"sqlite": sqlite.dialect, "postgresql": postgresql.dialect}
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
    func: Callable | None = None  # a seed's or a Python step's: (conn, params, scoped)
    # on SQLite, which connection runs it (transform/lanes.py): "main" writes the public tables; "ledger" and
    # "side" are the second connection's two phases, into scratch files. One connection runs all in order.
    lane: str = "main"
    # what an incremental build rewrites of a public table (transform/scope.py): the rows of the changed users
    # ("user"), those from each changed user's first change on ("tail"; for the roll-forward, from its month),
    # the rows of the changed business days ("day"), or the findings from the first one that changed on, numbered
    # again ("finding": anomalies); None: the whole table
    grain: str | None = None

    def describe(self) -> str:
        if self.sql_file:
            return f"{self.name}: {self.kind} {self.table} from transform/{self.sql_file}"
        if self.func is None:
            return f"{self.name}: create {self.table} empty (the detectors below append to it)"
        return f"{self.name}: {self.kind} {self.table} by {self.func.__module__}.{self.func.__name__}"


def steps() -> list[Step]:
    """Dependency order: one connection runs them so. The two-lane SQLite build keeps this order within each
    lane, and a main step waits for every step of the other lane's phases listed before it."""
    seed = {table.name: fn for table, fn in seeds.SEEDS}
    out = [Step(name, name, "rebuild", f"{name}.sql", grain="day")  # from the ingest tables: no need to wait
           for name in ("daily_event_counts", "daily_health")]
    # (from balance_events' own columns: on two lanes it is built while the other lane builds the ledger)
    out.append(Step("amount_groups", "amount_groups", "rebuild", "amount_groups.sql", grain="user"))
    out += [Step(f"seed {name}", name, "seed", func=seed[name], lane="ledger")
            for name in ("ref_currencies", "ref_tz_offsets")]
    out.append(Step("int_ledger_order", "int_ledger_order", "rebuild", "int_ledger_order.sql", lane="ledger"))
    out.append(Step("int_ledger", "int_ledger", "rebuild", "int_ledger.sql", lane="ledger"))
    out.append(Step("balance_events", "balance_events", "update", "balance_events.sql"))
    out.append(Step("discrepancy_transactions", "discrepancy_transactions", "rebuild", "discrepancy_transactions.sql",
                    grain="tail"))
    out.append(Step("discrepancy_report", "discrepancy_report", "rebuild", "discrepancy_report.sql", grain="user"))
    out.append(Step("balance_rollforward_users", "balance_rollforward_users", "rebuild",
                    "balance_rollforward_users.sql", grain="tail"))
    out.append(Step("balance_rollforward", "balance_rollforward", "rebuild", "balance_rollforward.sql"))
    # a public table, small: on two lanes the side lane builds it and the main lane copies it in
    out.append(Step("daily_flows", "daily_flows", "rebuild", "daily_flows.sql", lane="side", grain="day"))
    # (its actions come from daily_flows)
    out.append(Step("seed ref_action_checks", "ref_action_checks", "seed", func=seed["ref_action_checks"],
                    lane="side"))
    out.append(Step("int_anomaly_findings", "int_anomaly_findings", "rebuild-empty", lane="side"))
    out += [Step(f"detector {name}", "int_anomaly_findings", "append", f"detectors/{name}.sql", lane="side")
            for name in SQL_DETECTORS]
    out.append(Step("detector amount_spikes", "int_anomaly_findings", "python", func=robust.amount_spikes,
                    lane="side"))
    # error_days counts discrepancies per day: after discrepancy_report, so on the main lane
    out.append(Step("detector error_days", "int_anomaly_findings", "python", func=robust.error_days))
    # numbered over every finding; an incremental build numbers again only those from the first that changed on
    out.append(Step("anomalies", "anomalies", "rebuild", "anomalies.sql", grain="finding"))
    out.append(Step("user_balances", "user_balances", "rebuild", "user_balances.sql", grain="user"))
    return out


def _select_sql(step: Step, dialect: str, scoped: str = "") -> str:
    return render((HERE / step.sql_file).read_text(), dialect, scoped).strip().rstrip(";")


def _columns(table: str) -> list[str]:
    return [c.name for c in BY_NAME[table].columns]


def used_params(sql: str, bind: dict) -> dict:
    """The parameters of `bind` that `sql` names (a statement is given only those)."""
    names = set(_BIND.findall(sql))
    return {k: v for k, v in bind.items() if k in names}


def statements(step: Step, dialect: str, bind: dict, indexes: bool = True, scoped: str = "") -> list[Statement]:
    """The SQL a step runs (empty for Python steps: they are described, not printed); without `indexes`, a
    rebuilt table's rows only. `scoped` ("seek" or "scan", transform/scope.py): for an incremental build, which
    reads the changed users and days only and, for a table with a grain, replaces their rows instead of
    rebuilding it."""
    if scoped and step.grain == "finding":
        return _renumber_statements(step, dialect, scoped)
    if scoped and step.grain and step.kind == "rebuild":
        return _replace_statements(step, dialect, bind, scoped)
    if step.kind == "update":
        body = _select_sql(step, dialect, scoped)
        assignments = ",\n    ".join(f"{c} = derived.{c}" for c in BALANCE_EVENT_COLUMNS)
        changed = "\n    OR ".join(is_distinct(f"balance_events.{c}", f"derived.{c}", dialect)
                                    for c in BALANCE_EVENT_COLUMNS)
        sql = (f"UPDATE balance_events SET\n    {assignments}\nFROM (\n{body}\n) AS derived\n"
               f"WHERE balance_events.event_id = derived.event_id\n"
               f"  AND balance_events.transaction_id = derived.transaction_id AND (\n    {changed})")
        if scoped:  # the rows derived again, found by key: walking all of balance_events would cost more
            sql += "\n  AND balance_events.transaction_id IN (SELECT transaction_id FROM int_ledger WHERE is_tail)"
        return [Statement(step.name, sql, used_params(sql, bind))]
    if step.kind in ("rebuild", "append"):
        out = [_insert_statement(step, dialect, bind, scoped)]
        return out + index_statements(step) if step.kind == "rebuild" and indexes else out
    return []


def _insert_statement(step: Step, dialect: str, bind: dict, scoped: str, into: str = "") -> Statement:
    body = _select_sql(step, dialect, scoped)
    listed = ", ".join(_columns(step.table))
    sql = f"INSERT INTO {into or step.table} ({listed})\nSELECT {listed} FROM (\n{body}\n) AS final_rows"
    numbered = _ORDER.search(body)
    if numbered:  # dialect.row_number on SQLite: ids are rowids given in insert order
        sql += f"\nORDER BY {numbered.group(1)}"
    return Statement(step.name, sql, used_params(sql, bind))


# Rows an incremental build replaces in a table with a grain. Untied errors belong to no user's ledger: they are
# all rebuilt every time (there are few).
_REPLACED = {"user": user_in_scope("user_id"), "day": day_in_scope("business_date")}
_REPLACED_IN = {"discrepancy_report": "kind = 'untied_error' OR " + user_in_scope("user_id"),
                "discrepancy_transactions": f"{user_in_scope('user_id')} AND {in_tail('discrepancy_transactions')}",
                # a user read whole: from the first month that can have changed; one read in part: the chain it
                # carries on, from its last month (transform/balance_rollforward_users.sql)
                "balance_rollforward_users": f"{user_in_scope('user_id')} AND EXISTS (SELECT 1 FROM {SCOPE_USERS} "
                                             "changes WHERE changes.user_id = balance_rollforward_users.user_id AND "
                                             "(changes.reads_whole AND month >= changes.since_month OR "
                                             "currency = changes.carry_currency AND month >= changes.carry_month))"}
# An open issue's age counts to the last business day of the data, which new logs move for every user.
_AGES = ("UPDATE discrepancy_report SET age_days = {{ days_between('business_date', "
         "'coalesce((select max(business_date) from balance_events), business_date)') }} WHERE resolved_at IS NULL")


# Tables whose incremental select reads the stored rows it replaces (user_balances carries a user's row on,
# balance_rollforward_users a chain's last month, and amount_groups a user's groups): their new rows are computed
# into a temporary table before the stored ones are deleted.
_READS_ITS_ROWS = ("user_balances", "balance_rollforward_users", "amount_groups")


def _replace_statements(step: Step, dialect: str, bind: dict, scoped: str) -> list[Statement]:
    where = _REPLACED_IN.get(step.table) or _REPLACED[step.grain]
    delete = Statement(step.name, f"DELETE FROM {step.table} WHERE {where}", {})
    if step.table in _READS_ITS_ROWS:
        listed, scratch = ", ".join(_columns(step.table)), f"next_{step.table}"
        out = [*_scratch_statements(step, dialect), _insert_statement(step, dialect, bind, scoped, into=scratch),
               delete, Statement(step.name, f"INSERT INTO {step.table} ({listed})\nSELECT {listed} FROM {scratch}", {}),
               Statement(step.name, f"DROP TABLE {scratch}", {})]
    else:
        out = [delete, _insert_statement(step, dialect, bind, scoped)]
    if step.table == "discrepancy_report":
        out.append(Statement(step.name, render(_AGES, dialect), {}))
    return out


def _renumber_statements(step: Step, dialect: str, scoped: str) -> list[Statement]:
    """anomalies in an incremental build. Its ids number every finding in one order (anomalies.sql), so a finding
    that comes, goes or moves in that order changes the ids of all later ones, and only theirs. The detectors wrote
    the findings of the rebuilt users to int_anomaly_findings; the stored ones they did not derive again are kept
    (kept_findings.sql). The least finding that came, went or moved (anomaly_change) fixes how many stored rows
    keep their ids (`numbered_before`: ids follow the order, so the greatest id before it); those are updated in
    place where a detector derived them with other figures. The rows after it, kept or new, are numbered again."""
    order = _ORDER.search(_select_sql(step, "sqlite")).group(1)  # the full build's order: one text for both
    columns = _columns(step.table)[1:]
    listed, scratch = ", ".join(columns), f"next_{step.table}"
    kept = render((HERE / "kept_findings.sql").read_text(), dialect, scoped)
    kept = "\n".join(line for line in kept.splitlines() if not line.lstrip().startswith("--")).strip()

    def same(a: str, b: str, among: Iterable[str]) -> str:
        return " AND ".join([f"{a}.fingerprint = {b}.fingerprint"] + [
            f"NOT ({is_distinct(f'{a}.{c}', f'{b}.{c}', dialect)})" for c in among])

    at = same("anomalies", "fresh", ("detected_at", "detector"))  # the same finding, at the same place in the order
    least = (f"SELECT {order} FROM int_anomaly_findings fresh\n"
             f"    WHERE NOT EXISTS (SELECT 1 FROM anomalies WHERE {at})\n"
             f"    UNION ALL\n"
             f"    SELECT {order} FROM anomalies\n"
             # (the first two terms say what `not kept` implies, in a form that reads the findings by index)
             f"    WHERE (detector = 'error_day' OR {user_in_scope('user_id')}) AND NOT ({kept})\n"
             f"      AND NOT EXISTS (SELECT 1 FROM int_anomaly_findings fresh WHERE {at})\n"
             f"    ORDER BY 1, 2, 3 LIMIT 1")
    change = ("CREATE TEMPORARY TABLE anomaly_change AS\n"
              f"WITH least_change (least_at, least_detector, least_fingerprint) AS (\n    {least}\n)\n"
              "SELECT least_at, least_detector, least_fingerprint, (\n"
              "    SELECT coalesce(max(anomaly_id), 0) FROM anomalies\n"
              f"    WHERE ({order}) < (least_at, least_detector, least_fingerprint)) AS numbered_before\n"
              "FROM least_change")
    renumbered_from = "(SELECT numbered_before FROM anomaly_change)"
    # with no change in the order, every stored row keeps its id
    before = f"coalesce({renumbered_from}, anomalies.anomaly_id)"
    others = [c for c in columns if c not in ("fingerprint", "detected_at", "detector")]
    in_place = (f"UPDATE anomalies SET {', '.join(f'{c} = fresh.{c}' for c in others)}\n"
                f"FROM int_anomaly_findings fresh\n"
                f"WHERE {at} AND anomalies.anomaly_id <= {before}\n"
                f"  AND NOT ({same('anomalies', 'fresh', others)})")
    renumbered = (f"INSERT INTO {scratch} (anomaly_id, {listed})\n"
                  f"SELECT change.numbered_before + ROW_NUMBER() OVER (ORDER BY {order}), {listed}\n"
                  f"FROM (\n"
                  f"    SELECT {listed} FROM anomalies\n"
                  f"    WHERE anomaly_id > {renumbered_from} AND ({kept})\n"
                  f"    UNION ALL\n"
                  f"    SELECT {listed} FROM int_anomaly_findings fresh, anomaly_change change\n"
                  f"    WHERE ({order}) >= (change.least_at, change.least_detector, change.least_fingerprint)\n"
                  f") AS after_change, anomaly_change change")
    return [*_scratch_statements(step, dialect),
            # each stored finding the build derived again looks for its new row
            Statement(step.name, "CREATE INDEX ix_int_anomaly_findings ON int_anomaly_findings (fingerprint)", {}),
            Statement(step.name, "DROP TABLE IF EXISTS anomaly_change", {}),
            Statement(step.name, change, {}),
            Statement(step.name, in_place, {}),
            Statement(step.name, renumbered, {}),
            Statement(step.name, f"DELETE FROM anomalies WHERE anomaly_id > {renumbered_from}", {}),
            Statement(step.name, f"INSERT INTO anomalies (anomaly_id, {listed})\n"
                                 f"SELECT anomaly_id, {listed} FROM {scratch}", {}),
            Statement(step.name, f"DROP TABLE {scratch}", {}),
            Statement(step.name, "DROP TABLE anomaly_change", {})]


def _scratch_statements(step: Step, dialect: str) -> list[Statement]:
    """An empty temporary table `next_<table>` of the table's shape, without indexes."""
    scratch = f"next_{step.table}"
    shape = Table(scratch, MetaData(), *(Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False)
                                         for c in BY_NAME[step.table].columns), prefixes=["TEMPORARY"])
    return [Statement(step.name, f"DROP TABLE IF EXISTS {scratch}", {}),
            Statement(step.name, str(CreateTable(shape).compile(dialect=_DIALECTS[dialect]())).strip(), {})]


def index_statements(step: Step) -> list[Statement]:
    """The indexes of a rebuilt table, created after its rows are in."""
    return [Statement(step.name, f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {name} ON {step.table} "
                                 f"({columns})", {})
            for name, columns, unique in INDEXES.get(step.table, [])]


def plan(dialect: str, params: Params, scoped: str = "") -> list[tuple[Step, list[Statement]]]:
    bind = params.bind()
    return [(step, statements(step, dialect, bind, scoped=scoped)) for step in steps()]


def _insert(conn: Connection, table: str, rows: Iterable[dict], batch: int = 5000) -> None:
    """Insert an iterable of row dicts in batches, so a streaming step never holds all its rows."""
    it = iter(rows)
    while chunk := list(islice(it, batch)):
        insert_rows(conn, BY_NAME[table], chunk)


def recreate(conn: Connection, table: str) -> None:
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
    # the database's own table: on SQLite a plain name would also find one in an attached scratch file
    # (transform/lanes.py); the intermediate tables are TEMPORARY here, and TEMP is searched first
    own = table if table in INTERMEDIATE_TABLES or conn.dialect.name != "sqlite" else f"main.{table}"
    conn.execute(text(f"DROP TABLE IF EXISTS {own}"))
    target.create(conn)


def run_step(conn: Connection, step: Step, params: Params, bind: dict, create=None, indexes: bool = True,
             scoped: str = "") -> None:
    """Run one step. `create(conn, table)` makes its table empty (default: recreate, in the database);
    without `indexes` a rebuilt table gets none (the side lane's public tables: the main lane indexes its copy).
    `scoped`: in an incremental build (transform/scope.py)."""
    create = create or recreate
    dialect = conn.dialect.name
    if step.kind == "seed":
        rows = step.func(conn, params, scoped)  # (an incremental build's ref_currencies reads the stored one)
        create(conn, step.table)
        _insert(conn, step.table, rows)
    elif step.kind == "rebuild-empty" or (step.kind == "rebuild" and not (scoped and step.grain)):
        create(conn, step.table)
    elif step.kind == "python":
        _insert(conn, step.table, step.func(conn, params, scoped))
    for stmt in statements(step, dialect, bind, indexes, scoped):
        conn.execute(stmt.executable(), stmt.params)


def count_rows(conn: Connection, tables=PUBLIC_TABLES) -> dict[str, int]:
    return {name: conn.execute(select(func.count()).select_from(BY_NAME[name])).scalar_one() for name in tables}


def finish(conn: Connection, params: Params) -> dict:
    """Record what the build was made from, forget the changes it took in (db/pending.py) and count its rows
    (inside its transaction)."""
    record_state(conn, params)
    pending.clear(conn)
    result = count_rows(conn)
    result["balance_events"] = conn.execute(text("SELECT COUNT(*) FROM balance_events")).scalar_one()
    return result
