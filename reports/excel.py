"""The workbook (`report.xlsx`): Summary, Exposure, Ledger, Reconciliation, ByUser, BySource, Overdrafts, Anomalies
and a README.

Written with XlsxWriter in constant_memory mode, so a ledger of millions of
transactions needs no more memory than a few rows. Amounts are real numbers
with their currency's number format (negatives in red), dates are real dates,
booleans real booleans, ids text (Excel told not to flag digits stored as
text); every sheet has a header row in words, frozen, a filter and set widths,
and prints landscape on A4, one page wide, the header row on every page, the
sheet name and page number in the footer. A sheet holds 1,048,576 rows, so a
longer table continues on numbered sheets ("Ledger 2", …) and the README says so.

Each data sheet is a job (`encode_sheet`): it streams its rows from the
database and turns them into worksheet XML part files (reports/xlsx_rows.py).
Jobs run side by side in worker processes (reports/parallel.py); this process
builds the workbook, appends the parts in sheet order and writes the README.
"""
from __future__ import annotations

import contextlib
import dataclasses
import operator
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from db.engine import make_engine
from queries.pseudonym import scrub, user_mapper
from reports import cells, parallel, queries
from reports.columns import COLUMNS, REPEATED, ledger_columns
from reports.context import FREE_TEXT_COLUMNS, USER_COLUMNS, Context
from reports.xlsx_rows import RowStreamWorksheet, fast_deflate, row_encoder, write_parts
from settings import Settings

FILE_NAME = "report.xlsx"
EXCEL_MAX_ROWS = 1_048_576  # rows in one worksheet, the header included
README_NAME = "README"



def leading(first: tuple[str, ...], shared: str) -> tuple[str, ...]:
    """A dashboard grid's columns with `first` moved to the front (what a printed page shows), the rest in order."""
    columns = queries.shared_columns(shared)
    assert set(first) <= set(columns), set(first) - set(columns)
    return first + tuple(c for c in columns if c not in first)


# Reconciliation, Overdrafts and Anomalies are the dashboard's grids (same query, same columns), oldest first; the
# columns an accountant reads come first, as a printed page holds those (PRINT_WIDTH).
RECONCILIATION = leading(("business_date", "kind", "status", "user_id", "currency", "amount_at_stake", "current_gap",
                          "opening_gap", "max_abs_gap", "subscription_balance", "payment_balance",
                          "count_transactions", "age_days", "review_status", "explanation"), "discrepancies")
OVERDRAFTS = queries.shared_columns("overdraft-events")
ANOMALIES = leading(("business_date", "detected_at", "detector", "severity", "user_id", "currency", "amount", "score",
                     "review_status", "explanation", "transaction_id", "parameters"), "anomalies")
BY_USER = ("user_id", "currency", "balance", "payment_balance", "is_overdrawn", "overdrawn_since",
           "wallet_overdrawn_since", "count_transactions", "count_debits", "total_debit", "count_credits", "total_credit", "total_vat",
           "count_discrepancies", "count_open_discrepancies", "count_continuity_breaks", "count_anomalies",
           "is_test_user", "count_currencies", "first_seen_at", "last_seen_at", "last_transaction_id")
BY_SOURCE = ("currency", "type", "source", "action", "count_transactions", "total_amount", "total_vat", "total_net")
SUMMARY = ("currency", "month", "opening_balance", "first_seen_balances", "total_credit", "credit_vat", "total_debit",
           "debit_vat", "net_movement", "calculation_differences", "continuity_gaps", "closing_balance",
           "count_transactions", "count_users", "count_new_users", "month_end_exposure", "count_month_end_open",
           "exposure_age_0_7", "exposure_age_8_30", "exposure_age_31_90", "exposure_age_over_90")
EXPOSURE = ("currency", "count_open", "count_users", "exposure", "subscription_above", "subscription_below",
            "count_unknown_gap", "count_age_0_7", "count_age_8_30", "count_age_31_90", "count_age_over_90",
            "exposure_age_0_7", "exposure_age_8_30", "exposure_age_31_90", "exposure_age_over_90")

SHEETS = {
    "Summary": "Per currency and business month, the balance roll-forward (balance_rollforward, the applied "
               "transactions of known users): opening + balances first seen + net movement + calculation "
               "differences + continuity gaps = closing, where net movement = credits (gross) − VAT in credits − "
               "(debits (gross) − VAT in debits); then the open exposure at the month's end and its ageing. Every "
               "month of the data: the period does not apply. The last closing per currency is the sum of the "
               "users' balances on ByUser, and the last month's exposure is the one on Exposure.",
    "Exposure": "Per currency, the open out-of-sync episodes: each out-of-sync user's current gap between the "
                "subscription balance and the payment wallet, counted once, split by direction, with ageing "
                "(days since first seen, to the data's last day) in episodes and in exposure.",
    "Ledger": "Every transaction in the period (balance_events), oldest first: one row per transaction id.",
    "Reconciliation": "Every issue first seen in the period (discrepancy_report), open and resolved: one row per "
                      "issue (an out-of-sync episode, a calculation or continuity break).",
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
    ("Dates and times", "Business day is the day in the business time zone; columns marked (UTC) are UTC "
                        "date-times to the millisecond."),
    ("Balance rule", "DEBIT: balance after = balance before − (amount − VAT). CREDIT: balance after = balance "
                     "before + (amount − VAT). The amount is gross (VAT included). A difference beyond the "
                     "tolerance is a calculation mismatch."),
    ("Continuity", "A user's balance before a transaction should equal their balance after the previous one in the "
                   "same currency; when it does not, the balance changed outside the logged transactions."),
    ("Overdraft", "A transaction is an overdraft when the balance after it, the expected balance or the payment "
                  "wallet is below zero."),
    ("Sources", "Built from the same derived tables as the dashboard, so the numbers agree with it for the same "
                "period."),
    ("Column names", "Headers are in words; the last table below gives each column's field name, the name it has "
                     "in the CSV files and the database."),
)
PAPER_A4 = 9
# A printed page is one sheet wide: it holds the leading columns up to this many width units (about half size on
# A4 landscape); a wider sheet's other columns stay on screen (the README says which).
PRINT_WIDTH = 280
FOOTER = "&L&A&RPage &P"  # the sheet's name; its pages are numbered from 1 (a total would count every sheet)
HEADER_LINE_HEIGHT = 15  # points per line of wrapped text
README_CHARS_PER_UNIT = 1.1  # plain text fits more characters than a column's width in units (about 1.18)


@dataclasses.dataclass
class SheetInfo:
    name: str
    rows: int
    parts: list[str]
    columns: tuple[str, ...]


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook):
        self.header = book.add_format({"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "text_wrap": True,
                                       "valign": "bottom"})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self.int = book.add_format({"num_format": "0"})
        self.float = book.add_format({"num_format": "0.00"})
        # a boolean cell shows TRUE or FALSE in Excel whatever its format; LibreOffice shows 1 or 0 without one
        self.bool = book.add_format({"num_format": '"TRUE";"TRUE";"FALSE"'})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        self.top = book.add_format({"valign": "top"})
        self._book, self._money = book, {}

    def money(self, places: int):
        if places not in self._money:
            self._money[places] = self._book.add_format({"num_format": cells.number_format(places)})
        return self._money[places]


LONGEST_FIRST = ("ledger", "discrepancies", "anomalies", "overdraft-events", "user_balances", "by_source",
                 "summary", "exposure")


@dataclasses.dataclass(frozen=True)
class SheetJob:
    """Everything a worker needs to write one sheet's rows (all picklable)."""
    name: str
    columns: tuple[str, ...]
    source: str  # one of LONGEST_FIRST
    settings: Settings
    filters: queries.Filters
    pseudonymise: bool
    max_data_rows: int
    styles: dict
    folder: str


def _source_rows(engine, job: SheetJob) -> Iterable[tuple]:
    f = job.filters
    if job.source == "ledger":
        return queries.ledger(engine, f, job.columns)
    if job.source in queries.SHARED_TABLES:
        rows = queries.shared_tuples(engine, job.source, f)
        order = queries.shared_columns(job.source)
        if job.columns == order:
            return rows
        return map(operator.itemgetter(*(order.index(c) for c in job.columns)), rows)
    rows = {"user_balances": queries.user_balances, "by_source": queries.by_source,
            "summary": queries.summary, "exposure": queries.exposure_rows}[job.source](engine, f)
    pick = operator.itemgetter(*job.columns)
    return map(pick, rows)


def _privacy(settings: Settings, columns: Sequence[str]) -> Callable[[tuple], tuple] | None:
    """A row function pseudonymising user ids (and scrubbing them from free text)."""
    if "user_id" not in columns:
        return None
    user = user_mapper(settings.get("PSEUDONYMISE_KEY") or "")
    uid_at = columns.index("user_id")
    users = [i for i, n in enumerate(columns) if n in USER_COLUMNS]
    texts = [i for i, n in enumerate(columns) if n in FREE_TEXT_COLUMNS]

    def apply(row: tuple) -> tuple:
        row = list(row)
        uid = row[uid_at]
        token = user(uid)
        for i in texts:
            row[i] = scrub(row[i], uid, token)
        for i in users:
            row[i] = user(row[i])
        return tuple(row)
    return apply


def encode_sheet(job: SheetJob) -> list[tuple[str, int]]:
    """Stream one sheet's rows into XML part files; returns [(path, rows)] per worksheet (runs in a worker)."""
    engine = make_engine(job.settings.database_url, readonly=True)
    try:
        rows: Iterator[tuple] = iter(_source_rows(engine, job))
        privacy = _privacy(job.settings, job.columns) if job.pseudonymise else None
        if privacy:
            rows = map(privacy, rows)
        encode = row_encoder(job.columns, [COLUMNS[c].kind for c in job.columns], job.styles,
                             job.settings.currency_precision, REPEATED)
        return write_parts(rows, encode, job.max_data_rows,
                           lambda k: os.path.join(job.folder, f"{job.name}-{k + 1}.xml"))
    finally:
        engine.dispose()


def wrapped_lines(text: str, width: float, per_unit: float = 1.0) -> int:
    """Lines `text` takes when wrapped at word breaks in a column `width` units wide, `per_unit` characters to a
    unit (1 for bold headers; plain text is narrower), less a margin. Rows are given their height: spreadsheets do
    not grow a row for wrapped text they did not write themselves."""
    room, lines, used = max(1, int(width * per_unit - 1.5)), 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > room:
            lines, used = lines + 1, len(word)
        else:
            used += (1 if used else 0) + len(word)
    return lines


def printed_columns(columns: Sequence[str]) -> int:
    """How many leading columns a printed page holds (PRINT_WIDTH; at least one)."""
    total, n = 0.0, 0
    for col in columns:
        total += COLUMNS[col].width
        if total > PRINT_WIDTH and n:
            break
        n += 1
    return n


def print_setup(ws, page_header: str, table: bool = True) -> None:
    """Landscape A4, one page wide (as many tall as needed), a footer with the sheet's name and page number and
    `page_header` (the report and its period) on top; a table's gridlines and header row on every page."""
    ws.set_landscape()
    ws.set_paper(PAPER_A4)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.7)
    ws.set_header("&L" + page_header.replace("&", "&&"))
    ws.set_footer(FOOTER)
    ws.set_start_page(1)  # each sheet's pages numbered from 1
    if table:
        ws.hide_gridlines(0)  # shown on screen and printed
        ws.repeat_rows(0)


def _add_sheet(book: xlsxwriter.Workbook, fmt: _Formats, job: SheetJob, parts: list[tuple[str, int]],
               page_header: str) -> SheetInfo:
    """The worksheet(s) of one job: header in words, widths, frozen row, filter and print setup, then the rows."""
    names = []
    last_col = len(job.columns) - 1
    lines = max(wrapped_lines(COLUMNS[col].label, COLUMNS[col].width) for col in job.columns)
    for k, (path, n) in enumerate(parts or [(None, 0)]):
        name = job.name if k == 0 else f"{job.name} {k + 1}"
        ws = book.add_worksheet(name, worksheet_class=RowStreamWorksheet)
        ws.set_row(0, HEADER_LINE_HEIGHT * lines)
        for c, col in enumerate(job.columns):
            ws.set_column(c, c, COLUMNS[col].width)
            ws.write_string(0, c, COLUMNS[col].label, fmt.header)
        ws.freeze_panes(1, 0)
        if path:
            ws.append_rows_file(path, 1, n, last_col)  # spliced in, then deleted, when the workbook closes
        ws.autofilter(0, 0, max(n, 1), last_col)
        # ids are text on purpose: no green "number stored as text" triangles on them
        ws.ignore_errors({"number_stored_as_text": f"A1:{xl_col_to_name(last_col)}{max(n, 1) + 1}"})
        print_setup(ws, page_header)
        ws.print_area(0, 0, max(n, 1), printed_columns(job.columns) - 1)
        names.append(name)
    return SheetInfo(job.name, sum(n for _, n in parts), names, job.columns)


def write(ctx: Context, columns_spec: str | None = None, max_rows: int = EXCEL_MAX_ROWS,
          pool=None, after_submit: Callable[[], None] | None = None) -> list[Path]:
    """Write report.xlsx into ctx.out_dir; `max_rows` (header included) is lowered only by tests.

    `pool` is an executor for the sheet jobs (reports/parallel.py); without one they run in this process.
    `after_submit` is called once the sheet jobs are queued (reports.build queues its other reports then).
    """
    ledger_cols = ledger_columns(columns_spec)
    path = ctx.out_dir / FILE_NAME
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                           "strings_to_formulas": False, "strings_to_urls": False})
    fmt = _Formats(book)
    readme = book.add_worksheet(README_NAME)  # first tab; filled last, when row counts are known
    styles = {"date": fmt.date._get_xf_index(), "datetime": fmt.datetime._get_xf_index(),
              "int": fmt.int._get_xf_index(), "float": fmt.float._get_xf_index(), "bool": fmt.bool._get_xf_index(),
              **{("money", p): fmt.money(p)._get_xf_index() for p in range(7)}}
    plan = [("Summary", SUMMARY, "summary"), ("Exposure", EXPOSURE, "exposure"), ("Ledger", ledger_cols, "ledger"),
            ("Reconciliation", RECONCILIATION, "discrepancies"), ("ByUser", BY_USER, "user_balances"),
            ("BySource", BY_SOURCE, "by_source"), ("Overdrafts", OVERDRAFTS, "overdraft-events"),
            ("Anomalies", ANOMALIES, "anomalies")]
    try:
        with tempfile.TemporaryDirectory(prefix="report-xlsx-") as folder, \
                (parallel.executor(1) if pool is None else contextlib.nullcontext(pool)) as jobs_pool:
            jobs = [SheetJob(name, tuple(cols), source, ctx.settings, ctx.filters, ctx.pseudonymise, max_rows - 1,
                             styles, folder) for name, cols, source in plan]
            # longest first, so the workers finish together; the sheets are assembled in their own order
            futures = {job.name: jobs_pool.submit(encode_sheet, job)
                       for job in sorted(jobs, key=lambda j: LONGEST_FIRST.index(j.source))}
            if after_submit:
                after_submit()
            page_header = _page_header(ctx)
            infos = [_add_sheet(book, fmt, job, futures[job.name].result(), page_header) for job in jobs]
            _write_readme(ctx, readme, fmt, infos, columns_spec or "accounting", max_rows)
            print_setup(readme, page_header, table=False)
            with fast_deflate():
                book.close()
    except BaseException:
        _discard(book, path)
        raise
    return [path]


def _period(ctx: Context) -> str:
    f = ctx.filters
    first, last = queries.business_date_range(ctx.engine)
    return f"{f.date_from_text or first or '–'} to {f.date_to_text or last or '–'}"


def _page_header(ctx: Context) -> str:
    currency = f", {ctx.filters.currency}" if ctx.filters.currency else ""
    return f"Balance report, business dates {_period(ctx)}{currency}, generated {ctx.generated_text}"


def _discard(book: xlsxwriter.Workbook, path: Path) -> None:
    """After a failure: remove XlsxWriter's temp files and any half-written workbook."""
    for ws in book.worksheets():
        if isinstance(ws, RowStreamWorksheet):
            ws.discard_row_files()
        fh = getattr(ws, "row_data_fh", None)
        if fh is not None and not fh.closed:
            fh.close()
        name = getattr(ws, "row_data_filename", None)
        if name and os.path.exists(name):
            os.remove(name)
    if path.exists():
        path.unlink()


def _write_readme(ctx: Context, ws, fmt: _Formats, infos: list[SheetInfo], preset: str, max_rows: int) -> None:
    widths = (16, 26, 100, 28)
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.activate()
    r = 0

    def line(*values, style=None):
        nonlocal r
        text = values[2] if len(values) > 2 and isinstance(values[2], str) else ""
        lines = wrapped_lines(text, widths[2], README_CHARS_PER_UNIT)
        if lines > 1:  # only the third column wraps
            ws.set_row(r, HEADER_LINE_HEIGHT * lines)
        for c, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(r, c, v, style or fmt.top)
            else:
                ws.write_string(r, c, str(v), style or (fmt.wrap if c == 2 else fmt.top))
        r += 1

    f = ctx.filters
    line("Balance report workbook", style=fmt.title)
    line("Generated", ctx.generated_text)
    line("Database", ctx.database)
    line("Business dates", _period(ctx))
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
        printed = printed_columns(info.columns)
        if printed < len(info.columns):
            text += (f" Prints columns A–{xl_col_to_name(printed - 1)} ({COLUMNS[info.columns[0]].label} to "
                     f"{COLUMNS[info.columns[printed - 1]].label}), one page wide; the others are on screen.")
        if len(info.parts) > 1:
            text += (f" More rows than one sheet holds ({max_rows - 1:,}): continued on "
                     + ", ".join(info.parts[1:]) + ", in the same order and with the same columns.")
        line(info.name, info.rows, text)
    r += 1
    line("Sheet", "Column", "Meaning", "Field name", style=fmt.header)
    for info in infos:
        for col in info.columns:
            line(info.name, COLUMNS[col].label, COLUMNS[col].meaning, col)
    ws.freeze_panes(0, 0)
