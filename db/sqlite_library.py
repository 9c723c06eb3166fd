"""Process-wide settings of the SQLite library itself, made before its first connection.

SQLite keeps memory statistics by default (SQLITE_CONFIG_MEMSTATUS): every allocation takes one mutex of
the whole process. Two connections working at once on two threads, as the transforms' two lanes do
(transform/lanes.py), then wait on each other: the ledger steps took 175-186 ms beside the index rebuild on
the real export against 120-143 ms with the statistics off (and 123-146 ms in a process of their own). SQLite
recommends building without them (SQLITE_DEFAULT_MEMSTATUS=0); nothing here reads them (they serve
sqlite3_memory_used() and the soft heap limit, which neither Python nor this project uses).

Python's sqlite3 module offers no way to reach sqlite3_config(), so it is called through ctypes, in the
library the module is linked with (resolved from the module's own handle, whether SQLite is linked in or
shared). It must come before SQLite initialises, which Python's sqlite3 module does when it is first
imported: so the `db` package makes it as it is imported, before any of its modules imports sqlite3. Later
it changes nothing (SQLite answers SQLITE_MISUSE), which is harmless.
"""
from __future__ import annotations

import ctypes
import importlib.util
import logging

log = logging.getLogger("balance_logs.db")

SQLITE_CONFIG_MEMSTATUS = 9
SQLITE_OK = 0


def disable_memory_statistics() -> bool:
    """True when SQLite took the setting (no connection had been opened yet in this process)."""
    try:
        # the path, not an import: importing the module initialises SQLite
        config = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin).sqlite3_config
    except (AttributeError, OSError, TypeError):  # no shared object to look into (an unusual build)
        return False
    # sqlite3_config(int, ...) is variadic: one declared argument and two passed makes ctypes call it as
    # variadic, which matters where variadic arguments travel differently (arm64 macOS)
    config.argtypes = [ctypes.c_int]
    config.restype = ctypes.c_int
    rc = config(SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0))
    if rc != SQLITE_OK:
        log.debug("SQLite memory statistics stay on (sqlite3_config returned %s: already initialised)", rc)
    return rc == SQLITE_OK
