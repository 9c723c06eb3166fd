"""The workbook (`report.xlsx`): Ledger, Reconciliation, ByUser, BySource, Overdrafts, Anomalies and a README.

Written with XlsxWriter in constant_memory mode: each row goes to disk as soon
as the next one starts, so a ledger of millions of transactions needs no more
memory than one row. Amounts are real numbers with their currency's number
format, dates are real dates, booleans real booleans; every sheet has a
frozen header row, a filter and set widths. A sheet holds 1,048,576 rows, so a
longer table continues on numbered sheets ("Ledger 2", …) and the README says
so.
"""
from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import xlsxwriter

from reports import cells, queries
from reports.xlsx_rows import RowStreamWorksheet, row_encoder, stream_rows, zip_level
from reports.columns import COLUMNS, REPEATED_TEXT, ledger_columns
from reports.context import FREE_TEXT_COLUMNS, USER_COLUMNS, Context
from reports.pseudonym import scrub

FILE_NAME = "report.xlsx"
EXCEL_MAX_ROWS = 1_048_576  # rows in one worksheet, the header included
README_NAME = "README"

# Reconciliation, Overdrafts and Anomalies are the dashboard's grids (same query, same columns), oldest first.
RECONCILIATION = queries.shared_columns("discrepancies")
OVERDRAFTS = queries.shared_columns("overdraft-events")
ANOMALIES = queries.shared_columns("anomalies")
BY_USER = ("user_id", "currency", "balance", "payment_balance", "is_overdrawn", "overdrawn_since",
           "count_transactions", "count_debits", "total_debit", "count_credits", "total_credit", "total_vat",
           "count_discrepancies", "count_open_discrepancies", "count_continuity_breaks", "count_anomalies",
           "is_test_user", "count_currencies", "first_seen_at", "last_seen_at", "last_transaction_id")
BY_SOURCE = ("currency", "type", "source", "action", "count_transactions", "total_amount", "total_vat", "total_net")

SHEETS = {
    "Ledger": "Every transaction in the period (balance_events), oldest first: one row per transaction id.",
    "Reconciliation": "Every discrepancy detected in the period (discrepancy_report), open and resolved: one row "
                      "per discrepancy.",
    "ByUser": "One row per user: the balance after the last transaction, in that transaction's currency, with "
              "totals and counts in that currency (user_balances; count_currencies > 1 says the user has used "
              "more). This is the state after the last ingest; the period does not apply.",
    "BySource": "Per currency, type, source and action: number of transactions and totals over the period "
                "(daily_flows).",
    "Overdrafts": "Every overdraft event in the period, oldest first: transactions after which a balance "
                  "(subscription, expected or payment wallet) was below zero, and the Lambda's refusals of "
                  "transactions that would have gone below zero (reason guard).",
    "Anomalies": "Every anomaly detected in the period: unusual amounts, bursts, patterns.",
}

RULES = (
    ("Money", "Amounts are real numbers, rounded half-up to the currency's minor unit and shown with that many "
              "decimals. Each row's amounts are in that row's currency. Never add amounts of different "
              "currencies: filter on the currency column first."),
    ("Dates and times", "business_date is the day in the business time zone; columns ending in _at and ts are "
                        "UTC date-times to the millisecond."),
    ("Balance rule", "DEBIT: new_balance = old_balance − (amount − vat). CREDIT: new_balance = old_balance + "
                     "(amount − vat). amount is gross (VAT included). A difference beyond the tolerance is a "
                     "calculation mismatch."),
    ("Continuity", "A user's old_balance should equal the new_balance of their previous transaction in the same "
                   "currency; when it does not, the balance changed outside the logged transactions."),
    ("Overdraft", "A transaction is an overdraft when the balance after it, the expected balance or the payment "
                  "wallet is below zero."),
    ("Sources", "Built from the same derived tables as the dashboard, so the numbers agree with it for the same "
                "period."),
)


@dataclasses.dataclass
class SheetInfo:
    name: str
    rows: int
    parts: list[str]
    columns: tuple[str, ...]


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook):
        self.header = book.add_format({"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "text_wrap": True,
                                       "valign": "top"})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self.int = book.add_format({"num_format": "0"})
        self.float = book.add_format({"num_format": "0.00"})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        self._book, self._money = book, {}

    def money(self, places: int):
        if places not in self._money:
            self._money[places] = self._book.add_format({"num_format": cells.number_format(places)})
        return self._money[places]


class _Series:
    """One logical sheet, continued on "Name 2", "Name 3", … when it outgrows a worksheet."""

    def __init__(self, book: xlsxwriter.Workbook, fmt: _Formats, name: str, columns: Sequence[str],
                 precision: dict[str, int], max_rows: int):
        self.book, self.fmt, self.name, self.columns = book, fmt, name, tuple(columns)
        self.precision = precision
        self.max_data_rows = max_rows - 1
        self.kinds = [COLUMNS[c].kind for c in self.columns]
        self.styles = {"date": fmt.date._get_xf_index(), "datetime": fmt.datetime._get_xf_index(),
                       "int": fmt.int._get_xf_index(), "float": fmt.float._get_xf_index(),
                       **{("money", p): fmt.money(p)._get_xf_index() for p in range(7)}}
        self.parts: list[str] = []
        self.rows = 0
        self.ws = None
        self.encode = None
        self.row_in_sheet = 0

    def _new_sheet(self) -> None:
        self._finish_sheet()
        name = self.name if not self.parts else f"{self.name} {len(self.parts) + 1}"
        ws = self.book.add_worksheet(name, worksheet_class=RowStreamWorksheet)
        for c, col in enumerate(self.columns):
            ws.set_column(c, c, COLUMNS[col].width)
            ws.write_string(0, c, col, self.fmt.header)
        ws.freeze_panes(1, 0)
        self.parts.append(name)
        self.ws, self.row_in_sheet = ws, 0
        self.encode = row_encoder(self.columns, self.kinds, self.styles, self.precision, ws, REPEATED_TEXT)

    def _finish_sheet(self) -> None:
        if self.ws is not None:
            self.ws.autofilter(0, 0, max(self.row_in_sheet, 1), len(self.columns) - 1)

    def add_all(self, rows: Iterable[Sequence]) -> None:
        rows = iter(rows)
        last_col = len(self.columns) - 1
        while True:
            if self.ws is None or self.row_in_sheet >= self.max_data_rows:
                first = next(rows, _END)  # start a new sheet only when a row is left for it
                if first is _END:
                    break
                rows = itertools.chain((first,), rows)
                self._new_sheet()
            room = self.max_data_rows - self.row_in_sheet
            n = stream_rows(self.ws, self.encode, rows, self.row_in_sheet + 1, last_col, room)
            self.row_in_sheet += n
            self.rows += n
            if n < room:
                break

    def close(self) -> SheetInfo:
        if self.ws is None:
            self._new_sheet()
        self._finish_sheet()
        return SheetInfo(self.name, self.rows, self.parts, self.columns)


_END = object()


def _privacy(ctx: Context, columns: Sequence[str]) -> Callable[[tuple], tuple] | None:
    """A row function pseudonymising user ids (and scrubbing them from free text), or None when not asked."""
    if not ctx.pseudonymise or "user_id" not in columns:
        return None
    uid_at = columns.index("user_id")
    users = [i for i, n in enumerate(columns) if n in USER_COLUMNS]
    texts = [i for i, n in enumerate(columns) if n in FREE_TEXT_COLUMNS]

    def apply(row: tuple) -> tuple:
        row = list(row)
        uid = row[uid_at]
        token = ctx.user(uid)
        for i in texts:
            row[i] = scrub(row[i], uid, token)
        for i in users:
            row[i] = ctx.user(row[i])
        return tuple(row)
    return apply


def _tuples(dict_rows: Iterable[dict], columns: Sequence[str]) -> Iterable[tuple]:
    pick = operator.itemgetter(*columns)
    return map(pick, dict_rows) if len(columns) > 1 else ((pick(r),) for r in dict_rows)


def write(ctx: Context, columns_spec: str | None = None, max_rows: int = EXCEL_MAX_ROWS) -> list[Path]:
    """Write report.xlsx into ctx.out_dir; `max_rows` (header included) is lowered only by tests."""
    ledger_cols = ledger_columns(columns_spec)
    path = ctx.out_dir / FILE_NAME
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                           "strings_to_formulas": False, "strings_to_urls": False})
    fmt = _Formats(book)
    readme = book.add_worksheet(README_NAME)  # first tab; filled last, when row counts are known
    f, engine = ctx.filters, ctx.engine
    plan = [
        ("Ledger", ledger_cols, lambda: queries.ledger(engine, f, ledger_cols)),
        ("Reconciliation", RECONCILIATION,
         lambda: _tuples(queries.shared_rows(engine, "discrepancies", f), RECONCILIATION)),
        ("ByUser", BY_USER, lambda: _tuples(queries.user_balances(engine, f), BY_USER)),
        ("BySource", BY_SOURCE, lambda: _tuples(queries.by_source(engine, f), BY_SOURCE)),
        ("Overdrafts", OVERDRAFTS, lambda: _tuples(queries.shared_rows(engine, "overdraft-events", f), OVERDRAFTS)),
        ("Anomalies", ANOMALIES, lambda: _tuples(queries.shared_rows(engine, "anomalies", f), ANOMALIES)),
    ]
    infos = []
    try:
        for name, columns, rows in plan:
            series = _Series(book, fmt, name, columns, ctx.precision, max_rows)
            privacy = _privacy(ctx, columns)
            data = rows()
            series.add_all(map(privacy, data) if privacy else data)
            infos.append(series.close())
        _write_readme(ctx, readme, fmt, infos, columns_spec or "accounting", max_rows)
    finally:
        with zip_level():
            book.close()
    return [path]


def _write_readme(ctx: Context, ws, fmt: _Formats, infos: list[SheetInfo], preset: str, max_rows: int) -> None:
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 26)
    ws.set_column(2, 2, 110)
    ws.activate()
    r = 0

    def line(*values, style=None):
        nonlocal r
        for c, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(r, c, v, style)
            else:
                ws.write_string(r, c, str(v), style or (fmt.wrap if c == 2 else None))
        r += 1

    f = ctx.filters
    first, last = queries.business_date_range(ctx.engine)
    line("Balance report workbook", style=fmt.title)
    line("Generated", ctx.generated_text)
    line("Database", ctx.database)
    line("Business dates", f"{f.date_from_text or first or '–'} to {f.date_to_text or last or '–'}")
    line("Currency", f.currency or "all (each row in its own currency)")
    line("Business time zone", ctx.settings["BUSINESS_TZ"])
    line("Tolerance", ctx.settings["BALANCE_TOLERANCE"])
    line("Decimals", ", ".join(f"{k} {v}" for k, v in sorted(ctx.precision.items())))
    line("User ids", "pseudonymised (HMAC-SHA256 with the PSEUDONYMISE_KEY, first 16 hex digits)"
         if ctx.pseudonymise else "as logged")
    line("Ledger columns", preset)
    r += 1
    line("Rules", style=fmt.bold)
    for name, text in RULES:
        line(name, None, text)
    r += 1
    line("Sheet", "Rows", "What it holds", style=fmt.header)
    for info in infos:
        text = SHEETS[info.name]
        if len(info.parts) > 1:
            text += (f" More rows than one sheet holds ({max_rows - 1:,}): continued on "
                     + ", ".join(info.parts[1:]) + ", in the same order and with the same columns.")
        line(info.name, info.rows, text)
    r += 1
    line("Sheet", "Column", "Meaning", style=fmt.header)
    for info in infos:
        for col in info.columns:
            line(info.name, col, COLUMNS[col].meaning)
    ws.freeze_panes(0, 0)
