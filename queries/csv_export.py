"""CSV that is safe to open in a spreadsheet, and file names that say what the file holds.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read as
a formula by Excel, LibreOffice and Google Sheets (CSV injection), so such text
gets a leading apostrophe. Plain numbers (our formatted amounts, which may be
negative) are left as they are so they stay numbers. reports/ reuses these.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")  # \n too: some importers strip it, then see '='
PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
SAFE_NAME = re.compile(r"[^A-Za-z0-9]+")


def safe_cell(value) -> str:
    """The text to write for one cell: formulas neutralised, None as empty, numbers unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence], out=None) -> str | None:
    """Write a header and rows through safe_cell; returns the text when no file object is given."""
    if out is None:
        return "".join(iter_csv(header, rows))
    for chunk in iter_csv(header, rows):
        out.write(chunk)
    return None


def iter_csv(header: Sequence[str], rows: Iterable[Sequence], chunk_rows: int = 1000) -> Iterator[str]:
    """The CSV text in chunks of `chunk_rows` rows (for streaming responses: memory stays flat)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for n, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(v) for v in row])
        if n % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def file_name_part(text) -> str:
    """A piece of a file name: letters, digits and single dashes, at most 40 characters (no dots, no slashes)."""
    return SAFE_NAME.sub("-", str(text)).strip("-")[:40].strip("-") or "x"


def export_file_name(what: str, pieces, ext: str = "csv") -> str:
    """`discrepancies_sync_open_BHD_2024-01-01_to_2024-01-31.csv`: each piece made safe, joined by "_"."""
    return "_".join(file_name_part(p) for p in (what, *pieces)) + "." + ext
