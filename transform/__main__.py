"""`python -m transform [--database-url …] [--full-refresh] [--dry-run]`: bring the derived tables up to date.

A thin mirror of transform.build_all: check options, open the database, call
the library, print one line per table; failures become one line (errors.run_command).
"""
from __future__ import annotations

import argparse
import json
import sys


import settings as settings_mod
from db.engine import make_engine
from db.migrate import upgrade
from errors import EXIT_OK, run_command
from transform.params import SETTINGS_USED
from transform.runner import build_all, dry_run_text

PROG = "python -m transform"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--full-refresh", action="store_true",
                        help="rebuild every derived table from scratch (default: only what changed since the last "
                             "build, when that gives the same result)")
    parser.add_argument("--dry-run", action="store_true", help="print the statements in order and change nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--dialect", choices=("sqlite", "postgresql"),
                        help="with --dry-run: the SQL dialect to print (default: that of the database URL)")
    settings_mod.add_flags(parser, SETTINGS_USED)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: _transform(args))


def _transform(args) -> int:
    settings = settings_mod.from_args(args)
    if args.dry_run:
        dialect = args.dialect or settings_mod.read_database_url(settings.database_url).get_backend_name()
        for line in dry_run_text(dialect, settings):
            print(line)
        return EXIT_OK
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        result = build_all(engine, settings, mode="full" if args.full_refresh else "auto")
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"transform: {result['build']}, done in {result['seconds']}s "
              f"({settings_mod.redact_url(settings.database_url)})")
        for name, count in result.items():
            if name not in ("seconds", "build"):
                print(f"  {name:<20} {count}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
