"""gunicorn settings: `gunicorn -c app/gunicorn_conf.py app.wsgi:server`.

Binds to DASH_HOST:DASH_PORT (a `-b` flag overrides it) and refuses to start
when any bound address is not loopback and DASH_AUTH_USERS is empty. A unix
socket counts as exposed: whatever forwards to it (a proxy) serves other
machines, and its requests carry no client address the app could check.
Without this file the app still answers only loopback clients (app/auth.py).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import settings as _settings  # noqa: E402
from app.auth import ExposureError, check_exposure, parse_users  # noqa: E402

_s = _settings.load()
bind = [f"{_s['DASH_HOST']}:{_s['DASH_PORT']}"]
workers = 2
threads = 4  # a page fires several callbacks at once
timeout = 60
accesslog = "-"


def on_starting(server):
    users = parse_users(_s.get("DASH_AUTH_USERS"))
    for address in server.cfg.bind:
        host = address if address.startswith(("unix:", "fd://")) else address.rsplit(":", 1)[0]
        try:
            check_exposure(host, users)
        except ExposureError as exc:
            print(f"gunicorn app.wsgi: {exc}", file=sys.stderr)
            sys.exit(2)
