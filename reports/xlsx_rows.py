"""Rows straight into a constant_memory worksheet: the fast path that lets a ledger of millions fit in a minute.

XlsxWriter's per-cell API costs about 5 µs a cell (type dispatch, a cell tuple,
then the XML), which is minutes for a 1.6-million-row ledger. Here each data
sheet gets one compiled function per column layout that turns a row tuple into
the `<row>` XML XlsxWriter itself would write in constant_memory mode (inline
strings, the same escaping, the same number text), and `RowStreamWorksheet`
appends that XML to the worksheet's row file. Everything else (header, widths,
freeze, filter, styles, the package) is XlsxWriter's own.

Money is written as the decimal text of the amount rounded half-up to the
currency's minor unit, computed in integers from micro-units (`money_text`,
equal to str(reports.cells.money(...)), checked by tests): Excel reads that
text into the nearest double, exactly as if we had passed float(Decimal).

This leans on three XlsxWriter internals (`fh`, `previous_row`,
`_check_dimensions`) that are stable across 3.x; requirements.txt pins the
version and tests/test_reports_excel.py reads every sheet back with openpyxl.
"""
from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Sequence

from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from db.money import DEFAULT_PRECISION
from reports import cells

ROWS_PER_WRITE = 2000  # rows joined into one write to the row file
ZIP_LEVEL = 1  # deflate level of the .xlsx: 1 is ~3x faster than zlib's default 6, for ~20 % more bytes


class RowStreamWorksheet(Worksheet):
    """A constant_memory worksheet that also takes whole rows as XML, in order, after what was written so far."""

    def append_rows_xml(self, first_row: int, last_row: int, last_col: int, xml: str) -> None:
        if first_row > self.previous_row:
            self._write_single_row(first_row)  # flush the row XlsxWriter still holds (the header)
        self.fh.write(xml)
        self._check_dimensions(last_row, last_col)
        self.previous_row = last_row


@contextlib.contextmanager
def zip_level(level: int | None = None):
    """Within the block, workbooks close into a zip deflated at `level` (default ZIP_LEVEL).

    XlsxWriter always opens its ZipFile at zlib's default level, and for a ledger of millions of rows
    compressing gigabytes of sheet XML is then the slowest step; ZipFile takes a compresslevel, so the
    name XlsxWriter looks up is pointed at a ZipFile with ours for the duration of the block only.
    """
    import xlsxwriter.workbook as module
    original = module.ZipFile
    module.ZipFile = functools.partial(original, compresslevel=level or ZIP_LEVEL)
    try:
        yield
    finally:
        module.ZipFile = original


def _money_formatter(places: int) -> Callable[[int], str]:
    """micros -> decimal text rounded half-up (away from zero) to `places`, in integers only."""
    q, width = 10 ** (6 - places), places + 1
    half = q // 2

    def fmt(micros: int) -> str:
        n = ((-micros if micros < 0 else micros) + half) // q
        text = str(n)
        if places:
            if len(text) < width:
                text = text.rjust(width, "0")
            text = f"{text[:-places]}.{text[-places:]}"
        return "-" + text if micros < 0 and n else text
    return fmt


MONEY_TEXT = {p: _money_formatter(p) for p in range(7)}


def money_text(micros: int, places: int) -> str:
    """Micro-units as decimal text rounded half-up (away from zero) to `places`: -726500, 3 -> '-0.727'."""
    return MONEY_TEXT[places](micros)


# Text that needs XlsxWriter's escaping: control characters, XML specials, its _xHHHH_ escape, edge whitespace.
_NEEDS_ESCAPING = re.compile(r'[\x00-\x1f&<>"\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$')


class _Escape:
    """XlsxWriter's own text escaping for inline strings, with a fast path for plain text."""

    def __init__(self, ws: Worksheet):
        self.control, self.data = ws._escape_control_characters, ws._escape_data
        self.max_chars = ws.xls_strmax

    def __call__(self, value) -> str:
        text = value if value.__class__ is str else str(value)
        if len(text) <= self.max_chars // 2 and not _NEEDS_ESCAPING.search(text):
            return f"<t>{text}</t>"
        if len(text) > self.max_chars // 2 and _utf16_len(text) > self.max_chars:
            text = _utf16_truncate(text, self.max_chars)  # what write_string does with an overlong text
        text = self.data(self.control(text))
        return f'<t xml:space="preserve">{text}</t>' if _preserve_whitespace(text) else f"<t>{text}</t>"


def row_encoder(columns: Sequence[str], kinds: Sequence[str], styles: dict, precision: dict[str, int],
                ws: Worksheet, shared: frozenset[str] = frozenset()) -> Callable[[int, tuple], str]:
    """A function (0-based row index, row tuple) -> the row's XML, compiled for this column layout.

    `styles` maps kind -> xf index ('date', 'datetime', 'int', 'float') and ('money', places) -> xf index.
    Money cells take their format from the row's `currency` column. Text columns named in `shared` go to
    the workbook's shared-string table (each distinct value stored once, as Excel itself does), the other
    text columns are inline strings.
    """
    cur_at = list(columns).index("currency") if "currency" in columns else None
    money_places = {}

    def places(cur):
        if cur not in money_places:
            money_places[cur] = min(6, precision.get((cur or "").upper(), DEFAULT_PRECISION))
        return money_places[cur]

    env = {"_text": _Escape(ws), "_sst": _shared_index(ws), "_date": cells.excel_date, "_dt": cells.excel_datetime,
           "_money": MONEY_TEXT,
           "_places": places, "_mstyle": {p: styles[("money", p)] for p in range(7) if ("money", p) in styles}}
    lines = ["def encode(r, row):", "    rs = str(r + 1)", "    out = ['<row r=\"', rs, '\">']"]
    if cur_at is not None:
        lines.append(f"    p = _places(row[{cur_at}])")
    elif "money" in kinds:
        lines.append("    p = _places(None)")
    if "money" in kinds:
        lines.append("    money = _money[p]")
    for i, kind in enumerate(kinds):
        ref = xl_col_to_name(i)
        lines.append(f"    v = row[{i}]")
        # an empty text is an empty cell, as with XlsxWriter's write_string
        lines.append("    if v is not None and v != '':" if kind == "text" else "    if v is not None:")
        if kind == "text" and columns[i] in shared:
            cell = f"f'<c r=\"{ref}{{rs}}\" t=\"s\"><v>{{_sst(v)}}</v></c>'"
        elif kind == "text":
            cell = f"f'<c r=\"{ref}{{rs}}\" t=\"inlineStr\"><is>{{_text(v)}}</is></c>'"
        elif kind == "money":
            cell = f"f'<c r=\"{ref}{{rs}}\" s=\"{{_mstyle[p]}}\"><v>{{money(v)}}</v></c>'"
        elif kind == "date":
            cell = f"f'<c r=\"{ref}{{rs}}\" s=\"{styles['date']}\"><v>{{_date(v)}}</v></c>'"
        elif kind == "datetime":
            cell = f"f'<c r=\"{ref}{{rs}}\" s=\"{styles['datetime']}\"><v>{{_dt(v):.16G}}</v></c>'"
        elif kind == "bool":
            cell = f"f'<c r=\"{ref}{{rs}}\" t=\"b\"><v>{{1 if v else 0}}</v></c>'"
        elif kind == "int":
            cell = f"f'<c r=\"{ref}{{rs}}\" s=\"{styles['int']}\"><v>{{int(v)}}</v></c>'"
        elif kind == "float":
            cell = f"f'<c r=\"{ref}{{rs}}\" s=\"{styles['float']}\"><v>{{float(v):.16G}}</v></c>'"
        else:
            raise ValueError(f"unknown cell kind {kind!r}")
        lines.append(f"        out.append({cell})")
    lines += ["    out.append('</row>')", "    return ''.join(out)"]
    exec(compile("\n".join(lines), f"<row encoder {','.join(columns)}>", "exec"), env)  # noqa: S102
    return env["encode"]


def _shared_index(ws: Worksheet) -> Callable[[object], int]:
    """The shared-string index of a value, as XlsxWriter's write_string uses outside constant_memory mode.

    Over-long text is cut as write_string cuts it; sharedStrings.xml escapes it when the workbook closes.
    """
    index = ws.str_table._get_shared_string_index
    limit = ws.xls_strmax

    def sst(value) -> int:
        text = value if value.__class__ is str else str(value)
        if len(text) > limit // 2 and _utf16_len(text) > limit:
            text = _utf16_truncate(text, limit)
        return index(text)
    return sst


def stream_rows(ws: RowStreamWorksheet, encode: Callable[[int, tuple], str], rows: Iterable[tuple],
                first_row: int, last_col: int, limit: int) -> int:
    """Write up to `limit` rows from the iterator starting at `first_row`; returns how many were written."""
    written, chunk, r = 0, [], first_row
    start = first_row
    for row in rows:
        chunk.append(encode(r, row))
        r += 1
        written += 1
        if len(chunk) >= ROWS_PER_WRITE:
            ws.append_rows_xml(start, r - 1, last_col, "".join(chunk))
            chunk, start = [], r
        if written >= limit:
            break
    if chunk:
        ws.append_rows_xml(start, r - 1, last_col, "".join(chunk))
    return written

