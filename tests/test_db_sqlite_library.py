"""SQLite's memory statistics are off in every process that imports `db` first (db/sqlite_library.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEMORY_USED = """
import ctypes, importlib.util, sqlite3
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE t (a)")
conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
library = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin)
library.sqlite3_memory_used.restype = ctypes.c_int64
print(library.sqlite3_memory_used())
"""


def memory_used(first: str) -> int:
    out = subprocess.run([sys.executable, "-c", first + "\n" + MEMORY_USED], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    return int(out.stdout.split()[-1])


def test_importing_db_turns_sqlites_memory_statistics_off():
    assert memory_used("import db") == 0
    assert memory_used("import ingest.cli") == 0  # ingest.py's own order of imports


def test_too_late_it_changes_nothing_and_says_so():
    # sqlite3 imported first has initialised SQLite: the statistics stay on (the check itself can fail)
    assert memory_used("import sqlite3\nimport db") > 0
    out = subprocess.run([sys.executable, "-c", "import sqlite3, db.sqlite_library as s; "
                          "print(s.disable_memory_statistics())"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split()[-1] == "False"
