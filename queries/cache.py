"""Aggregates cached per version of the data: computed once, reused until the database changes.

The heavy GROUP BYs of the tabs (amount at stake per currency, anomalies per day, overdrafts per day)
read every row of tables with up to millions of rows; their results are a few hundred rows. The cache key
is the function and its arguments; an entry is used only while the data version it was computed on is
still current:
- SQLite: the size and modification time of the database file and its WAL (any commit changes them);
- other databases: a time bucket of TTL_SECONDS (a new ingest shows within that time).
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict

from sqlalchemy.engine import Engine

from db.engine import sqlite_file

MAX_ENTRIES = 512
TTL_SECONDS = 30.0

_lock = threading.Lock()
_entries: OrderedDict = OrderedDict()


def data_version(engine: Engine) -> tuple:
    path = sqlite_file(engine)
    if path is None:
        return ("ttl", int(time.monotonic() // TTL_SECONDS))
    version = []
    for file in (path, path.with_name(path.name + "-wal")):
        try:
            st = file.stat()
            version.append((st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            version.append(None)
    return tuple(version)


def _copy(value):
    """Callers may change what they get: hand out copies of lists and dicts (their items are plain values)."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    return value


def cached(fn=None, *, copy: bool = True):
    """Cache `fn(engine, *args, **kwargs)` per data version (the arguments must be hashable). `copy=False` for
    internal results nobody changes (roll-ups of thousands of rows)."""
    if fn is None:
        return functools.partial(cached, copy=copy)
    give = _copy if copy else (lambda value: value)

    @functools.wraps(fn)
    def wrapper(engine: Engine, *args, **kwargs):
        key = (fn.__module__, fn.__qualname__, str(engine.url), args, tuple(sorted(kwargs.items())))
        version = data_version(engine)
        with _lock:
            hit = _entries.get(key)
            if hit is not None and hit[0] == version:
                _entries.move_to_end(key)
                return give(hit[1])
        value = fn(engine, *args, **kwargs)
        with _lock:
            _entries[key] = (version, give(value))
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
        return value
    wrapper.uncached = fn
    return wrapper


def clear() -> None:
    with _lock:
        _entries.clear()


def start_warmer(engine: Engine, warm, interval: float = 15.0) -> threading.Thread:
    """A daemon thread that calls `warm()` whenever the data version changed (checked every `interval` s), so
    the first visitor after an ingest does not wait for the heavy aggregates of the default views."""
    def loop():
        seen = None
        try:
            while True:
                version = data_version(engine)
                if version != seen:
                    try:
                        warm()
                        seen = version
                    except Exception:  # noqa: BLE001 - a failed warm-up only means a slower first view
                        logging.getLogger("balance_logs.app").exception("cache warm-up failed")
                time.sleep(interval)
        except SystemExit:  # asked to stop (some test servers stop threads this way)
            return
    thread = threading.Thread(target=loop, name="balance-logs-cache-warmer", daemon=True)
    thread.start()
    return thread
