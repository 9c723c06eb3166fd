"""The app factory: `create_app(settings)` builds the one Dash app that `python -m app`, gunicorn
(`app.wsgi:server`) and the tests all use. Nothing is queried at import: every page and callback reads the
live database, so a new ingest shows on the next refresh (the few heavy aggregates, the grids' row counts and pages
and every page's header are cached per version of the data, and a background thread recomputes the default views'
ones after each change)."""
from __future__ import annotations

from pathlib import Path

import dash
from flask import send_file

from app import auth, compress, grid, guard, shell, ui
from app.context import AppContext
from app.tabs import TABS, ledger
from db.engine import make_engine
from queries.cache import start_warmer
from settings import Settings, load

ASSETS = Path(__file__).resolve().parent / "assets"
# plotly.js: the charts use scatter and bar traces only, so the app serves the 1.2 MB basic bundle (vendored
# from the plotly.js-basic-dist-min npm package, MIT) at the URL where dcc.Graph fetches plotly.js, instead of
# the 4.8 MB full bundle of the plotly package. dcc.Graph fetches it when the first chart appears, so it does
# not delay the start of the page.
PLOTLY_JS = Path(__file__).resolve().parent / "static" / "plotly-basic-4.1.1.min.js"
PLOTLY_URL = "/_dash-component-suites/plotly/package_data/plotly.min.js"
# The grid's and the graph's code are fetched only when the first grid or chart appears, after the first
# callbacks; asking for them with the page overlaps those downloads with the rest of the start-up.
INDEX = """<!DOCTYPE html>
<html lang="en">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
        <link rel="preload" as="script" href="/_dash-component-suites/dash_ag_grid/async-community.js">
        <link rel="preload" as="script" href="/_dash-component-suites/dash/dcc/async-graph.js">
        <link rel="preload" as="script" href="/_dash-component-suites/plotly/package_data/plotly.min.js">
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def create_app(settings: Settings | None = None, *, warm: bool = True) -> dash.Dash:
    """The dashboard for these settings (default: settings.load()). With `warm`, a background thread
    computes the default views' aggregates after every change of the data (see queries/cache.py)."""
    settings = settings or load()
    ctx = AppContext(settings, make_engine(settings.database_url, readonly=True))
    app = dash.Dash(
        "app",  # the package's name, as before the factory moved here (Flask's app name)
        title="Balance logs",
        update_title=None,
        assets_folder=str(ASSETS),
        serve_locally=True,  # every script and stylesheet from this server: no CDN, works offline
        suppress_callback_exceptions=True,  # tab components exist only while their tab is shown
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.index_string = INDEX
    app.server.add_url_rule(PLOTLY_URL, "plotly_basic", lambda: send_file(PLOTLY_JS, mimetype="text/javascript",
                                                                         max_age=3600))
    app.layout = shell.layout(ctx)
    shell.register(app, ctx)
    grid.register(app, ctx)
    for tab in TABS:
        tab.module.register(app, ctx)
    ledger.register(app, ctx)
    users = auth.parse_users(settings.get("DASH_AUTH_USERS"))
    if users:
        auth.protect(app.server, users)
    else:
        auth.loopback_only(app.server)
    guard.install(app)  # after every callback: the page's policy holds the clientside callbacks' hashes
    compress.install(app.server)
    app.server.config["BALANCE_LOGS_CONTEXT"] = ctx
    if warm:
        start_warmer(ctx.engine, lambda: (ui.warm_sections(ctx), grid.warm_grids(ctx)))
    return app
