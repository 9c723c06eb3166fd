"""Who may see the dashboard: loopback only, unless HTTP basic auth users are configured.

DASH_AUTH_USERS holds `user:password` pairs separated by commas (from the
environment or .env, never a command-line flag: flags show in `ps`). When it
is set, every request (pages, callbacks, assets) needs one of those users.
Without it the app itself answers only requests from this machine, whatever
serves it (`python -m app`, gunicorn with or without app/gunicorn_conf.py,
any WSGI server); `python -m app` and the gunicorn config also refuse to
start on a non-loopback interface.
"""
from __future__ import annotations

import hmac
import ipaddress

from flask import Flask, Response, request

from errors import UsageError

REALM = "balance-logs"
# A proxy on this machine connects from loopback on behalf of anyone: a request it forwarded is not local.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


class ExposureError(UsageError):
    """The dashboard would be reachable from other machines without authentication."""


def parse_users(text: str | None) -> dict[str, str]:
    """'alice:pw1,bob:pw2' -> {'alice': 'pw1', 'bob': 'pw2'}; a pair without ':' or a user is ignored."""
    users = {}
    for pair in (text or "").split(","):
        name, sep, password = pair.strip().partition(":")
        if sep and name.strip() and password:
            users[name.strip()] = password
    return users


def is_loopback(host: str) -> bool:
    host = (host or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name other than localhost may resolve to anything: treat it as exposed
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, as a dual-stack socket reports it
    return (mapped or address).is_loopback


def check_exposure(host: str, users: dict[str, str]) -> None:
    if not is_loopback(host) and not users:
        raise ExposureError(f"refusing to serve on {host} without HTTP basic auth: set DASH_AUTH_USERS=user:password "
                            "in the environment (or .env), or serve on 127.0.0.1")


def protect(server: Flask, users: dict[str, str]) -> None:
    """Require basic auth on every request of `server` (compared in constant time)."""
    expected = {name.encode(): password.encode() for name, password in users.items()}

    @server.before_request
    def require_basic_auth():
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username is not None:
            password = expected.get(auth.username.encode())
            given = (auth.password or "").encode()
            if password is not None and hmac.compare_digest(password, given):
                return None
        return Response("Authentication required.\n", 401, {"WWW-Authenticate": f'Basic realm="{REALM}"'})


def loopback_only(server: Flask) -> None:
    """Answer only requests from this machine (REMOTE_ADDR loopback, not forwarded by a proxy): 403 otherwise."""
    @server.before_request
    def refuse_other_machines():
        if is_loopback(request.remote_addr or "") and not any(h in request.headers for h in FORWARDING_HEADERS):
            return None
        return Response("This dashboard answers only requests from its own machine: set DASH_AUTH_USERS to "
                        "share it.\n", 403, {"Content-Type": "text/plain; charset=utf-8"})
