"""`python -m transform [--database-url …] [--dry-run]`: rebuild the derived tables.

A thin mirror of transform.build_all: check options, open the database, call
the library, print one line per table, map failures to one-line messages.
"""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.engine import make_url

import settings as settings_mod
from db.engine import make_engine
from db.migrate import upgrade
from settings import SettingsError
from transform.runner import build_all, dry_run_text

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transform", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the statements in order and change nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"),
                        help="with --dry-run: the SQL dialect to print (default: that of the database URL)")
    settings_mod.add_flags(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_mod.from_args(args)
    except SettingsError as exc:
        print(f"transform: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.dry_run:
        try:
            dialect = args.dialect or make_url(settings.database_url).get_backend_name()
            for line in dry_run_text(dialect, settings):
                print(line)
        except SettingsError as exc:
            print(f"transform: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_OK
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        result = build_all(engine, settings)
    except SettingsError as exc:
        print(f"transform: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # one line, not a traceback: name the database and the failure
        print(f"transform: failed on {settings_mod.redact_url(settings.database_url)}: "
              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"transform: done in {result['seconds']}s ({settings_mod.redact_url(settings.database_url)})")
        for name, count in result.items():
            if name != "seconds":
                print(f"  {name:<20} {count}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
