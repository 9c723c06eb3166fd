"""The dashboard: `create_app(settings)` builds the one Dash app that `python -m app`, gunicorn
(`app.wsgi:server`) and the tests all use (app/factory.py).

Importing `app` does not import Dash: reports and the scheduler use `queries` and `queries.csv_export`
without paying for the web framework.
"""
from __future__ import annotations


def create_app(settings=None, *, warm: bool = True):
    from app.factory import create_app as _create_app
    return _create_app(settings, warm=warm)


__all__ = ["create_app"]
