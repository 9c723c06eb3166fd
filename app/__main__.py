"""`python -m app [--host H] [--port P]`: serve the dashboard (Flask's server; production: gunicorn)."""
from __future__ import annotations

import argparse
import sys

import settings as settings_mod
from app.auth import ExposureError, check_exposure, parse_users

FLAG_SETTINGS = ("DATABASE_URL", "LOG_DIR", "BUSINESS_TZ", "CURRENCY_PRECISION", "DASH_HOST", "DASH_PORT")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", help="interface to bind (default: DASH_HOST, 127.0.0.1); any other than "
                                       "loopback needs DASH_AUTH_USERS")
    parser.add_argument("--port", type=int, help="port (default: DASH_PORT, 8050)")
    parser.add_argument("--debug", action="store_true", help="Dash dev tools and reloading (never when exposed)")
    settings_mod.add_flags(parser, FLAG_SETTINGS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_mod.from_args(args)
    except settings_mod.SettingsError as exc:
        print(f"python -m app: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings["DASH_HOST"]
    try:
        port = args.port or int(settings["DASH_PORT"])
        check_exposure(host, parse_users(settings.get("DASH_AUTH_USERS")))
    except (ExposureError, ValueError) as exc:
        print(f"python -m app: {exc}", file=sys.stderr)
        return 2
    from app import create_app
    app = create_app(settings)
    print(f"balance-logs dashboard on http://{host}:{port} ({settings_mod.redact_url(settings.database_url)})",
          file=sys.stderr)
    app.run(host=host, port=port, debug=args.debug and not parse_users(settings.get("DASH_AUTH_USERS")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
