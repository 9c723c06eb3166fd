"""Invariant sidecars: one YAML file per table, stating its grain and what must hold on every row.

Each file has `table`, `grain` (prose), `unique` (keys: a column, or a list of columns unique together; NULLs compare equal), `not_null`,
`accepted_values` (column -> allowed values; NULL allowed) and `expressions` (name -> SQL boolean
that must be true on every row; `:tolerance_micros` is bound). `check(conn, settings)` runs them all
and returns the failures with up to five offending rows each; tests/ asserts there are none.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent
SAMPLE_ROWS = 5


@dataclasses.dataclass(frozen=True)
class Failure:
    table: str
    rule: str
    count: int
    sample: list

    def __str__(self) -> str:
        return f"{self.table}: {self.rule} fails on {self.count} row(s), e.g. {self.sample}"


def load() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(HERE.glob("*.yml"))}


def _key(spec: dict) -> str:
    """Columns shown for offending rows: the first unique key."""
    first = (spec.get("unique") or ["*"])[0]
    return first if isinstance(first, str) else ", ".join(first)


def _failures(conn: Connection, table: str, rule: str, where: str, key: str, bind: dict) -> Failure | None:
    stmt = text(f"SELECT COUNT(*) FROM {table} WHERE {where}")
    count = conn.execute(stmt, bind).scalar_one()
    if not count:
        return None
    sample = [tuple(r) for r in conn.execute(text(f"SELECT {key} FROM {table} WHERE {where} LIMIT {SAMPLE_ROWS}"),
                                             bind)]
    return Failure(table, rule, count, sample)


def check(conn: Connection, tolerance_micros: int) -> list[Failure]:
    bind = {"tolerance_micros": tolerance_micros}
    out: list[Failure] = []
    for spec in load().values():
        table, key = spec["table"], _key(spec)
        for unique in spec.get("unique") or []:  # a column, or a list of columns unique together
            listed = unique if isinstance(unique, str) else ", ".join(unique)
            dupes = conn.execute(text(f"SELECT COUNT(*) FROM (SELECT {listed} FROM {table} GROUP BY {listed} "
                                      "HAVING COUNT(*) > 1) AS d")).scalar_one()
            if dupes:
                out.append(Failure(table, f"unique({listed})", dupes, []))
        for col in spec.get("not_null") or []:
            out += filter(None, [_failures(conn, table, f"not_null({col})", f"{col} IS NULL", key, bind)])
        for col, values in (spec.get("accepted_values") or {}).items():
            stmt = text(f"SELECT COUNT(*) FROM {table} WHERE {col} IS NOT NULL AND {col} NOT IN :values").bindparams(
                bindparam("values", expanding=True))
            count = conn.execute(stmt, {"values": [str(v) for v in values]}).scalar_one()
            if count:
                out.append(Failure(table, f"accepted_values({col})", count, []))
        for name, expr in (spec.get("expressions") or {}).items():
            out += filter(None, [_failures(conn, table, name, f"NOT ({expr})", key, bind)])
    return out
