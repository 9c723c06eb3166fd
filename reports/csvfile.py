"""CSV files accountants can open safely: the dashboard's CSV writer, streamed to a file.

queries/csv_export.py holds the one rule for spreadsheet formula injection (a text
cell starting with `=`, `+`, `-`, `@`, a tab, CR or LF gets a leading
apostrophe; plain numbers stay numbers), so the dashboard's Export CSV and
these files neutralise exactly the same cells. Money arrives here as the
quantized Decimal (`-3.000`), never a float; dates are `YYYY-MM-DD` and
timestamps ISO-8601 UTC as stored. Files are UTF-8 with CRLF line ends (RFC 4180).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from queries.csv_export import safe_cell
from queries.csv_export import write_csv as _write

__all__ = ["safe_cell", "write_csv"]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Write header and rows to `path`, one row at a time (nothing is held in memory)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        _write(header, rows, out=fh)
