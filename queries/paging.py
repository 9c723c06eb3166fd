"""Tables that page, sort and filter in SQL.

A `TableQuery` names a statement builder and its columns. `page()` wraps the
statement as a subquery, adds the grid's sort and column filters (translated
from AG Grid's models, every column checked against the list, every value
bound), and returns one page plus the exact number of matching rows (counted
once per filter and version of the data: `count_rows()` is cached, and so are
the pages of tables without reviews); `all_rows()`
streams the whole filtered result for exports. The browser never receives a
whole table.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation

from sqlalchemy import and_, func, not_, or_, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from db.money import SCALE
from queries.base import Filters, connect, require, rows, stream
from queries.cache import cached

MAX_PAGE = 500  # rows per request, whatever the browser asks
MAX_FILTER_TEXT = 200

KINDS = ("text", "money", "int", "num", "date", "ts", "bool")


@dataclasses.dataclass(frozen=True)
class Col:
    field: str
    kind: str = "text"  # text | money (micro-units) | int | num | date | ts | bool

    def __post_init__(self):
        assert self.kind in KINDS, self.kind


@dataclasses.dataclass(frozen=True)
class TableQuery:
    """A table the dashboard shows: how to build it from filters, its columns, and its order."""
    name: str
    build: Callable[..., Select]  # build(filters, **params) -> Select with labelled columns
    columns: tuple[Col, ...]
    key: tuple[str, ...]  # unique row key: the last sort keys, so pages never overlap
    default_sort: tuple[tuple[str, str], ...]  # ((field, "asc"|"desc"), ...)
    needs: tuple[str, ...]  # tables that must exist
    params: tuple[str, ...] = ()  # names of the keyword parameters build() accepts
    # A table that is a UNION of parts (overdraft events): parts(filters, **params) -> [Select, ...]. A page
    # then takes its first rows from each part in order (each on its own indexes) and sorts only those.
    parts: Callable[..., list[Select]] | None = None

    @property
    def by_field(self) -> dict[str, Col]:
        return {c.field: c for c in self.columns}

    def statement(self, filters: Filters, sort_model=None, filter_model=None, **params) -> Select:
        base = self.build(filters, **{k: v for k, v in params.items() if k in self.params}).subquery("t")
        cols = self.by_field
        stmt = select(*[base.c[c.field] for c in self.columns])
        conds = grid_conditions(base, cols, filter_model)
        if conds:
            stmt = stmt.where(*conds)
        return stmt.order_by(*self.order(base, sort_model))

    def page_statements(self, filters: Filters, end: int, sort_model=None, filter_model=None,
                        **params) -> tuple[Select, list[Select]]:
        """(the statement whose rows [start:end] are the page, the statements whose rows add up to the count)."""
        kwargs = {k: v for k, v in params.items() if k in self.params}
        if self.parts is None:
            stmt = self.statement(filters, sort_model, filter_model, **params)
            return stmt, [stmt.order_by(None)]
        cols = self.by_field
        firsts, counts = [], []
        for part in self.parts(filters, **kwargs):
            sub = part.subquery()
            conds = grid_conditions(sub, cols, filter_model)
            matching = select(*[sub.c[c.field] for c in self.columns]).where(*conds)
            counts.append(matching)
            first = matching.order_by(*self.order(sub, sort_model)).limit(end).subquery()
            firsts.append(select(first))
        union = union_all(*firsts).subquery("u") if len(firsts) > 1 else firsts[0].subquery("u")
        return select(*[union.c[c.field] for c in self.columns]).order_by(*self.order(union, sort_model)), counts

    def order(self, base, sort_model) -> list:
        wanted = []
        for item in sort_model or ():
            if isinstance(item, dict) and item.get("colId") in self.by_field and item.get("sort") in ("asc", "desc"):
                wanted.append((item["colId"], item["sort"]))
        # then the default order (its first column is indexed: the first page is found without sorting the
        # whole table), then the key, so pages never overlap
        wanted += [(f, d) for f, d in self.default_sort if f not in {w for w, _ in wanted}]
        wanted += [(k, "asc") for k in self.key if k not in {w for w, _ in wanted}]
        return [base.c[f].desc() if d == "desc" else base.c[f].asc() for f, d in wanted]


def page(engine: Engine, tq: TableQuery, filters: Filters, *, start: int = 0, end: int = 100,
         sort_model=None, filter_model=None, **params) -> tuple[list[dict], int]:
    """(rows start..end, number of matching rows) of the filtered, sorted table. The count is exact and
    cached (`count_rows()`): a grid counts once per change of its filters, not once per page."""
    start = max(0, int(start or 0))
    end = max(start, min(int(end or start + 100), start + MAX_PAGE))
    total = count_rows(engine, tq, filters, filter_model=filter_model, **params)
    wanted = tuple(sorted((k, v) for k, v in params.items() if k in tq.params))
    # A page is the same for every reader until the data changes, except beside reviews, which a reader saves
    # and must see at once (on PostgreSQL the cache's version is a time bucket): those are read every time.
    read = _page_rows.uncached if "reviews" in tq.needs else _page_rows
    return read(engine, tq, filters, start, end, _model_text(sort_model, list), _model_text(filter_model, dict),
                wanted), total


def _model_text(model, kind) -> str:
    return json.dumps(model if isinstance(model, kind) else kind(), sort_keys=True, default=str)


@cached
def _page_rows(engine: Engine, tq: TableQuery, filters: Filters, start: int, end: int, sort_model: str,
               filter_model: str, params: tuple) -> list[dict]:
    stmt, _ = tq.page_statements(filters, end, json.loads(sort_model), json.loads(filter_model), **dict(params))
    with connect(engine) as conn:
        require(conn, *tq.needs)
        return rows(conn, stmt.limit(end - start).offset(start))


def count_rows(engine: Engine, tq: TableQuery, filters: Filters, *, filter_model=None, **params) -> int:
    """How many rows of the table match the filters, the column filters and the parameters (exact; cached per
    version of the data, see queries/cache.py)."""
    wanted = tuple(sorted((k, v) for k, v in params.items() if k in tq.params))
    return _count(engine, tq, filters, _model_text(filter_model, dict), wanted)


@cached
def _count(engine: Engine, tq: TableQuery, filters: Filters, filter_model: str, params: tuple) -> int:
    _, counting = tq.page_statements(filters, 0, None, json.loads(filter_model), **dict(params))
    with connect(engine) as conn:
        require(conn, *tq.needs)
        return sum(int(conn.execute(select(func.count()).select_from(c.subquery())).scalar_one())
                   for c in counting)


def all_rows(engine: Engine, tq: TableQuery, filters: Filters, *, sort_model=None, filter_model=None,
             limit: int | None = None, **params) -> Iterator[dict]:
    """Every row of the filtered, sorted table, streamed (what an export writes)."""
    stmt = tq.statement(filters, sort_model, filter_model, **params)
    if limit is not None:
        stmt = stmt.limit(limit)
    return stream(engine, stmt, tq.needs)


# --- AG Grid filter model -> WHERE ------------------------------------------------------------------

def grid_conditions(base, cols: dict[str, Col], filter_model) -> list:
    conds = []
    for field, model in (filter_model or {}).items() if isinstance(filter_model, dict) else ():
        col = cols.get(field)
        if col is None or not isinstance(model, dict):
            continue  # unknown columns are ignored, never interpolated
        cond = _combined(base.c[field], col.kind, model)
        if cond is not None:
            conds.append(cond)
    return conds


def _combined(expr, kind, model):
    if isinstance(model.get("conditions"), list):
        parts = [c for c in (_one(expr, kind, m) for m in model["conditions"][:4] if isinstance(m, dict))
                 if c is not None]
        if not parts:
            return None
        return or_(*parts) if model.get("operator") == "OR" else and_(*parts)
    return _one(expr, kind, model)


def _number(value, kind):
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    if kind == "money":  # the grid shows currency units; the column holds micro-units
        return int((number * SCALE).to_integral_value())
    if kind == "int":
        return int(number)
    return float(number) if math.isfinite(float(number)) else None


def _one(expr, kind, model):
    op = model.get("type")
    if op == "blank":
        return expr.is_(None)
    if op == "notBlank":
        return expr.is_not(None)
    if model.get("filterType") == "number" and kind in ("money", "int", "num"):
        value = _number(model.get("filter"), kind)
        if value is None:
            return None
        if op == "inRange":
            upper = _number(model.get("filterTo"), kind)
            return None if upper is None else and_(expr >= value, expr <= upper)
        return {"equals": expr == value, "notEqual": expr != value, "lessThan": expr < value,
                "lessThanOrEqual": expr <= value, "greaterThan": expr > value,
                "greaterThanOrEqual": expr >= value}.get(op)
    if model.get("filterType") == "text" and kind in ("text", "date", "ts"):
        text = model.get("filter")
        if not isinstance(text, str) or not text:
            return None
        text = text[:MAX_FILTER_TEXT]
        if op == "contains":
            return expr.icontains(text, autoescape=True)
        if op == "notContains":
            return not_(expr.icontains(text, autoescape=True))
        if op == "startsWith":
            return expr.istartswith(text, autoescape=True)
        if op == "endsWith":
            return expr.iendswith(text, autoescape=True)
        if op == "equals":
            return expr == text
        if op == "notEqual":
            return expr != text
    return None
