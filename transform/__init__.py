"""Derived tables of balance-logs: SQL files run in order over the ingest tables.

`build_all(engine, settings)` rebuilds them all (ingest.py calls it at the end of
every run); `python -m transform` does the same from the command line. See
docs/transforms.md for every table, rule and detector.
"""
from __future__ import annotations

from transform.state import is_current


def build_all(engine, settings, **options) -> dict:
    # imported when called: the dashboard and the reports import transform.tables, which runs this file, and
    # never build (the runner brings Jinja, the steps and the lanes)
    from transform.runner import build_all as _build_all
    return _build_all(engine, settings, **options)


__all__ = ["build_all", "is_current"]
