"""The dashboard: `create_app(settings)` builds the one Dash app that `python -m app`, gunicorn
(`app.wsgi:server`) and the tests all use. Nothing is queried at import or build time: every page and
callback reads the live database, so a new ingest shows on the next refresh."""
from __future__ import annotations

from pathlib import Path

import dash

from app import auth, grid, shell
from app.context import AppContext
from app.tabs import TABS, ledger
from db.engine import make_engine
from settings import Settings, load

ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(settings: Settings | None = None) -> dash.Dash:
    settings = settings or load()
    ctx = AppContext(settings, make_engine(settings.database_url, readonly=True))
    app = dash.Dash(
        __name__,
        title="Balance logs",
        update_title=None,
        assets_folder=str(ASSETS),
        serve_locally=True,  # every script and stylesheet from this server: no CDN, works offline
        suppress_callback_exceptions=True,  # tab components exist only while their tab is shown
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = shell.layout(ctx)
    shell.register(app, ctx)
    grid.register(app, ctx)
    for tab in TABS:
        tab.module.register(app, ctx)
    ledger.register(app, ctx)
    users = auth.parse_users(settings.get("DASH_AUTH_USERS"))
    if users:
        auth.protect(app.server, users)
    app.server.config["BALANCE_LOGS_CONTEXT"] = ctx
    return app
