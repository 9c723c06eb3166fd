"""`python -m reports KIND --out DIR`: arguments in, one call to reports.build, paths or a one-line error out."""
from __future__ import annotations

import argparse
import logging

from db.engine import make_engine
from errors import EXIT_OK, run_command
from reports import KINDS, SETTINGS_USED, build
from reports.columns import LEDGER_PRESETS
from settings import add_flags, from_args

PROG = "python -m reports"

EPILOG = """examples:
  python -m reports all --out data/reports
  python -m reports excel --from 2024-01-01 --to 2024-01-31 --columns full --out out/
  python -m reports daily-overdrafts --date 2024-01-10 --out out/
  python -m reports weekly-reconciliation --week 2024-W02 --out out/

exit status: 0 written, 1 failed (database, disk), 2 usage error
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Write reports from the database.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=KINDS, help="which report to write")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: REPORT_DIR)")
    parser.add_argument("--from", dest="date_from", metavar="DATE", help="first business date (html, excel)")
    parser.add_argument("--to", dest="date_to", metavar="DATE", help="last business date (html, excel)")
    parser.add_argument("--date", metavar="DATE",
                        help="business day of the daily overdraft report (default: --to, else the last day ingested)")
    parser.add_argument("--week", metavar="WEEK",
                        help="ISO week like 2024-W02 (or a date in it) of the weekly reconciliation "
                             "(default: the week of --to, else of the last day ingested)")
    parser.add_argument("--currency", metavar="CUR", help="only this currency")
    parser.add_argument("--columns", metavar="PRESET|FILE",
                        help=f"Ledger columns: {' or '.join(LEDGER_PRESETS)} (default accounting), "
                             "or a JSON file listing them")
    parser.add_argument("--raw-csv", action="store_true", help="also write events.csv with every parsed event")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="replace user ids by HMAC-SHA256 pseudonyms (needs PSEUDONYMISE_KEY)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes writing sheets and reports side by side (default: one per core, at most 4; "
                             "1: all in this process)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    add_flags(parser, SETTINGS_USED)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_command(PROG, lambda: _write(args))


def _write(args) -> int:
    settings = from_args(args)
    engine = make_engine(settings.database_url, readonly=True)
    try:
        paths = build(args.kind, engine, settings, args.out or settings["REPORT_DIR"],
                      date_from=args.date_from, date_to=args.date_to, date=args.date, week=args.week,
                      currency=args.currency, columns=args.columns, raw_csv=args.raw_csv,
                      pseudonymise=args.pseudonymise, workers=args.workers)
    finally:
        engine.dispose()
    if not args.quiet:
        for path in paths:
            print(path)
    return EXIT_OK
