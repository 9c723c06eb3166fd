"""CSV files accountants can open safely: formula injection neutralised, money exact, UTF-8.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
would be run as a formula by Excel or LibreOffice (`=HYPERLINK(...)` in a user
id, say); such cells get a leading apostrophe, which spreadsheets show as text
and never evaluate. Numbers are written by us, never taken from text, so a
negative amount stays a number. Money is the quantized Decimal (`-3.000`), not
a float; dates are `YYYY-MM-DD`, timestamps ISO-8601 UTC as stored.

app/csv_export.safe_cell is the dashboard's copy of the same rule; when it
exists we use it so both exports neutralise exactly the same cells.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _own_safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


try:  # the dashboard's rule, shared so both exports agree (see module docstring)
    from app.csv_export import safe_cell as _shared_safe_cell  # type: ignore[import-not-found]
except ImportError:
    _shared_safe_cell = None


def safe_cell(value):
    """A value fit for a CSV cell: text that a spreadsheet would evaluate gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if _shared_safe_cell is not None:
        return _shared_safe_cell(value)
    return _own_safe_cell(value)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write header and rows (values already converted: str, Decimal, int, bool or None); returns the row count."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(v) for v in row])
            count += 1
    return count
