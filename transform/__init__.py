"""Derived tables of balance-logs: SQL files run in order over the ingest tables.

`build_all(engine, settings)` rebuilds them all (ingest.py calls it at the end of
every run); `python -m transform` does the same from the command line. See
docs/transforms.md for every table, rule and detector.
"""
from __future__ import annotations


def build_all(engine, settings, **options) -> dict:
    from transform.runner import build_all as _build_all
    return _build_all(engine, settings, **options)


def is_current(engine, settings) -> bool:
    from transform.state import is_current as _is_current
    return _is_current(engine, settings)


__all__ = ["build_all", "is_current"]
