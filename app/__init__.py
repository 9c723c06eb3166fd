"""The dashboard: `create_app(settings)` builds the one Dash app that `python -m app`, gunicorn
(`app.wsgi:server`) and the tests all use (app/factory.py)."""
from __future__ import annotations

from app.factory import create_app

__all__ = ["create_app"]
