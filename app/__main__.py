"""`python -m app [--host H] [--port P]`: serve the dashboard (Flask's server; production: gunicorn)."""
from __future__ import annotations

import argparse
import sys

import settings as settings_mod
from app import create_app
from app.auth import check_exposure, parse_users
from errors import EXIT_OK, UsageError, run_command

PROG = "python -m app"
SETTINGS_USED = ("DATABASE_URL", "LOG_DIR", "BUSINESS_TZ", "CURRENCY_PRECISION", "DASH_HOST", "DASH_PORT",
                 "DASH_AUTH_USERS", "DASH_READ_ONLY", "REVIEWER_NAME")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--host", help="interface to bind (default: DASH_HOST, 127.0.0.1); any other than "
                                       "loopback needs DASH_AUTH_USERS")
    parser.add_argument("--port", type=int, help="port (default: DASH_PORT, 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and reloading (never when exposed)")
    settings_mod.add_flags(parser, SETTINGS_USED)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: _serve(args))


def _serve(args) -> int:
    settings = settings_mod.from_args(args)
    host = args.host or settings["DASH_HOST"]
    try:
        port = args.port or int(settings["DASH_PORT"])
    except ValueError:
        raise UsageError(f"DASH_PORT={settings['DASH_PORT']!r} is not a port number") from None
    users = parse_users(settings.get("DASH_AUTH_USERS"))
    check_exposure(host, users)
    app = create_app(settings)
    print(f"balance-logs dashboard on http://{host}:{port} ({settings_mod.redact_url(settings.database_url)})",
          file=sys.stderr)
    app.run(host=host, port=port, debug=args.debug and not users)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
