"""Sheet rows as XML, made in any process and appended to a constant_memory worksheet.

XlsxWriter's per-cell API costs about 5 µs a cell (type dispatch, a cell tuple,
then the XML), which is minutes for a 1.6-million-row ledger. Here each data
sheet gets one compiled function per column layout that turns a row tuple into
the `<row>` XML XlsxWriter itself writes in constant_memory mode (inline
strings with its escaping, the same number text), `write_part` streams rows
into part files (one per worksheet, split at the sheet's row limit), which
worker processes can do side by side, and `RowStreamWorksheet` appends a part
to the worksheet's own row file. Everything else (header, widths, freeze,
filter, styles, the package) is XlsxWriter's own.

Money is written as the decimal text of the amount rounded half-up to the
currency's minor unit, computed in integers from micro-units (`money_text`,
equal to str(reports.cells.money(...)), checked by tests): Excel reads that
text into the nearest double, exactly as if we had passed float(Decimal).

This leans on a few XlsxWriter internals (`fh`, `previous_row`,
`_check_dimensions`, its escaping helpers) that are stable across 3.x;
requirements.txt pins the version and the tests read every sheet back with
openpyxl.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence

from xlsxwriter.utility import _preserve_whitespace, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from db.money import DEFAULT_PRECISION
from reports import cells

ROWS_PER_WRITE = 2000  # rows joined into one write to a part file
MAX_TEXT = 32_767  # characters in one cell (XlsxWriter's xls_strmax)
COPY_BUFFER = 16 << 20


class RowStreamWorksheet(Worksheet):
    """A constant_memory worksheet that also takes files of row XML, placed after what was written so far.

    The files are not copied when added: when the workbook closes, the sheet's XML is assembled from
    XlsxWriter's own row file (the header) followed by the added files, copied by the kernel (sendfile),
    and the files are deleted. A sheet of a million rows is a gigabyte of XML; this spares two copies.
    """

    def append_rows_file(self, path: str, first_row: int, last_row: int, last_col: int) -> None:
        if first_row > self.previous_row:
            self._write_single_row(first_row)  # flush the row XlsxWriter still holds (the header)
        self._check_dimensions(last_row, last_col)
        self.previous_row = last_row
        self.__dict__.setdefault("row_files", []).append(path)

    def _write_optimized_sheet_data(self) -> None:
        target = getattr(self.fh, "name", None)
        files = self.__dict__.get("row_files", [])
        if self.dim_rowmin is None or not isinstance(target, str):
            super()._write_optimized_sheet_data()
            return
        self._xml_start_tag("sheetData")
        self.row_data_fh.close()
        self.row_data_fh_closed = True
        self.fh.flush()
        with open(target, "ab") as dst:
            for source in [self.row_data_filename, *files]:
                _append(dst, source)
                os.unlink(source)
        self.fh.seek(0, os.SEEK_END)
        self._xml_end_tag("sheetData")

    def discard_row_files(self) -> None:
        for path in self.__dict__.pop("row_files", []):
            if os.path.exists(path):
                os.unlink(path)


def _append(dst, source: str) -> None:
    """Append a file's bytes to an open binary file, in the kernel when it can (os.sendfile)."""
    with open(source, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        dst.flush()
        offset = 0
        try:
            while offset < size:
                sent = os.sendfile(dst.fileno(), src.fileno(), offset, min(size - offset, 1 << 30))
                if sent == 0:
                    break
                offset += sent
        except OSError:  # sendfile between these files is not supported here: copy in user space
            src.seek(offset)
            shutil.copyfileobj(src, dst, COPY_BUFFER)
            return
        if offset < size:
            src.seek(offset)
            shutil.copyfileobj(src, dst, COPY_BUFFER)


@contextlib.contextmanager
def fast_deflate():
    """Within the block, zip files are deflated fast: zlib-ng at level 2 (or zlib at level 1 without it).

    Compressing gigabytes of sheet XML is the slowest step of a large workbook, and XlsxWriter always deflates
    at zlib's default level 6. zlib-ng is a drop-in, faster implementation of the same deflate and CRC-32
    formats (level 2 packs like zlib's 1 at twice its speed); zipfile creates its compressor and checksums
    through module-level names, so those names, and the ZipFile XlsxWriter opens, are pointed at ours for
    the duration of the block only. Reports run one workbook at a time in a process.
    """
    import zipfile

    import xlsxwriter.workbook as workbook_module
    try:
        from zlib_ng import zlib_ng as engine
        level = 2
    except ImportError:  # pragma: no cover - zlib-ng is in requirements.txt
        import zlib as engine
        level = 1

    def compressor(compress_type, compresslevel=None):
        if compress_type == zipfile.ZIP_DEFLATED:
            return engine.compressobj(level, engine.DEFLATED, -15)
        return original_compressor(compress_type, compresslevel)

    original_compressor, original_crc32 = zipfile._get_compressor, zipfile.crc32
    original_zipfile = workbook_module.ZipFile
    zipfile._get_compressor, zipfile.crc32 = compressor, engine.crc32
    workbook_module.ZipFile = functools.partial(original_zipfile, compresslevel=level)
    try:
        yield
    finally:
        zipfile._get_compressor, zipfile.crc32 = original_compressor, original_crc32
        workbook_module.ZipFile = original_zipfile


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


# Text that needs XlsxWriter's escaping: control characters (tab and newline are fine), XML specials, its own
# _xHHHH_ escape, and leading or trailing whitespace (kept with xml:space="preserve"). One character class is
# what the regex engine scans fastest; the rarer cases are plain string tests.
_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f&<>\ufffe\uffff]").search


def _needs_escaping(text: str) -> bool:
    return bool(_SPECIAL(text) or "_x" in text or text[:1].isspace() or text[-1:].isspace())


_ESCAPER = Worksheet()  # only for XlsxWriter's escaping helpers


def inline_text(text: str) -> str:
    """The <t> element of an inline string, escaped as XlsxWriter escapes it (the slow path)."""
    if len(text) > MAX_TEXT // 2 and _utf16_len(text) > MAX_TEXT:
        text = _utf16_truncate(text, MAX_TEXT)  # what write_string does with an over-long text
    text = _ESCAPER._escape_data(_ESCAPER._escape_control_characters(text))
    return f'<t xml:space="preserve">{text}</t>' if _preserve_whitespace(text) else f"<t>{text}</t>"


CACHE_SIZE = 65_536  # values remembered per cache (least recently used go first)


def _text_element(value) -> str:
    text = value if value.__class__ is str else str(value)
    if len(text) > MAX_TEXT // 2 or _needs_escaping(text):
        return inline_text(text)
    return f"<t>{text}</t>"


def _datetime_text(ts: str) -> str:
    return f"{cells.excel_datetime(ts):.16G}"


def row_encoder(columns: Sequence[str], kinds: Sequence[str], styles: dict, precision: dict[str, int],
                repeated: frozenset[str] = frozenset()) -> Callable[[int, tuple], str]:
    """A function (0-based row index, row tuple) -> the row's XML, compiled for this column layout.

    `styles` maps kind -> xf index ('date', 'datetime', 'int', 'float', 'bool') and ('money', places) -> xf index.
    Money cells take their format from the row's `currency` column. The function is one expression per
    cell, joined once. Amounts and the columns named in `repeated` (user ids, currencies, kinds…) go
    through LRU caches, since their values come back again and again; unique ones (ids, times) do not.
    """
    cur_at = list(columns).index("currency") if "currency" in columns else None
    money_places: dict = {}

    def places(cur):
        if cur not in money_places:
            money_places[cur] = min(6, precision.get((cur or "").upper(), DEFAULT_PRECISION))
        return money_places[cur]

    cache = functools.lru_cache(maxsize=CACHE_SIZE)
    env = {"_text": _text_element, "_rtext": cache(_text_element), "_date": cells.excel_date,
           "_dt": _datetime_text, "_rdt": cache(_datetime_text), "_money": {p: cache(MONEY_TEXT[p]) for p in range(7)},
           "_places": places,
           "_mstyle": {p: styles[("money", p)] for p in range(7) if ("money", p) in styles}}
    names = [f"v{i}" for i in range(len(columns))]
    lines = ["def encode(r, row):", "    rs = str(r + 1)",
             f"    {', '.join(names)}{',' if len(names) == 1 else ''} = row"]
    if "money" in kinds:
        lines.append(f"    p = _places({names[cur_at] if cur_at is not None else 'None'})")
        lines += ["    money = _money[p]", "    ms = _mstyle[p]"]
    parts = ["'<row r=\"', rs, '\">'"]
    for i, kind in enumerate(kinds):
        ref, v = xl_col_to_name(i), names[i]
        if kind == "text":  # an empty text is an empty cell, as with XlsxWriter's write_string
            fn = "_rtext" if columns[i] in repeated else "_text"
            parts.append(f"(f'<c r=\"{ref}{{rs}}\" t=\"inlineStr\"><is>{{{fn}({v})}}</is></c>' "
                         f"if {v} is not None and {v} != '' else '')")
            continue
        value = {"money": ("{ms}", f"{{money({v})}}"), "date": (styles.get("date"), f"{{_date({v})}}"),
                 "datetime": (styles.get("datetime"), f"{{{'_rdt' if columns[i] in repeated else '_dt'}({v})}}"),
                 "bool": (styles.get("bool"), f"{{1 if {v} else 0}}"),
                 "int": (styles.get("int"), f"{{int({v})}}"), "float": (styles.get("float"), f"{{float({v}):.16G}}")}
        if kind not in value:
            raise ValueError(f"unknown cell kind {kind!r}")
        style, text = value[kind]
        attrs = (f' s="{style}"' if style is not None else "") + (' t="b"' if kind == "bool" else "")
        parts.append(f"(f'<c r=\"{ref}{{rs}}\"{attrs}><v>{text}</v></c>' if {v} is not None else '')")
    parts.append("'</row>'")
    lines.append("    return ''.join((" + ",\n        ".join(parts) + "))")
    exec(compile("\n".join(lines), f"<row encoder {','.join(columns)}>", "exec"), env)  # noqa: S102
    return env["encode"]


def write_parts(rows: Iterator[tuple], encode: Callable[[int, tuple], str], max_data_rows: int,
                path_of: Callable[[int], str]) -> list[tuple[str, int]]:
    """Rows into part files of at most `max_data_rows` rows each (rows numbered from 1, below a header).

    Returns [(path, row count)], one per part; no part when there are no rows.
    """
    parts: list[tuple[str, int]] = []
    rows = iter(rows)
    while True:
        chunk, n = [], 0
        fh = None
        for row in rows:
            n += 1
            chunk.append(encode(n, row))
            if len(chunk) >= ROWS_PER_WRITE:
                fh = fh or open(path_of(len(parts)), "w", encoding="utf-8")  # noqa: SIM115 - closed below
                fh.write("".join(chunk))
                chunk = []
            if n >= max_data_rows:
                break
        if n == 0:
            return parts
        fh = fh or open(path_of(len(parts)), "w", encoding="utf-8")  # noqa: SIM115
        fh.write("".join(chunk))
        fh.close()
        parts.append((path_of(len(parts)), n))
        if n < max_data_rows:
            return parts
