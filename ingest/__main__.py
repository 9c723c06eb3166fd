"""`python -m ingest show FILE_ID:LINE … | FILE_ID | --request ID`: print an event's exact text (or a whole file's,
or every event of one invocation), as ingested.

Every row derived from a log event names its `file_id` and `line_no`; this reads the file's text kept in
file_texts (ingest/texts.py). Errors are one line (errors.run_command): exit 2 for a file or line that is not
there, 1 for a text that was not kept.
"""
from __future__ import annotations

import argparse
import sys

from sqlalchemy import inspect

import settings as settings_mod
from db.engine import make_engine
from errors import EXIT_OK, UsageError, run_command
from ingest.texts import EventTexts, TextNotKept, event_text, file_text, request_events

PROG = "python -m ingest"

EPILOG = """examples:
  python -m ingest show 12:345         the event that starts at line 345 of file 12
  python -m ingest show 12:345 12:351  several events, each after a '==> 12:345 <==' line
  python -m ingest show 12             the whole text of file 12
  python -m ingest show --request 8f14e45f-ceea-467f-a0e6-4b3b1e6f1c2a
                                       every event of one invocation (its request id), in time order

FILE_ID and LINE are the file_id and line_no columns of any row (parsed_logs, balance_events, quarantine, …).
The text is as ingest read it: UTF-8, bytes that were not UTF-8 (and NUL) as U+FFFD, CRLF as LF.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser("show", help="print the exact text of events (or of a whole file)",
                               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("where", nargs="*", metavar="FILE_ID[:LINE]", type=_where,
                      help="an event (file id and the line it starts at), or a whole file (its id)")
    show.add_argument("--request", metavar="ID", help="every event of this invocation (its request id)")
    settings_mod.add_flags(show, ("DATABASE_URL",))
    return parser


def _where(value: str) -> tuple[int, int | None]:
    file_id, sep, line = value.partition(":")
    try:
        return int(file_id), int(line) if sep else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not FILE_ID:LINE or FILE_ID (whole numbers)") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(PROG, lambda: _show(args))


def _show(args) -> int:
    if bool(args.where) == bool(args.request):
        raise UsageError("show takes FILE_ID[:LINE] arguments or --request ID, not both or neither")
    engine = make_engine(settings_mod.from_args(args).database_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("file_texts"):
                if not inspect(conn).has_table("ingested_files"):
                    raise UsageError("nothing ingested in this database")
                raise TextNotKept("this database predates kept file texts (migration 0011): run ingest.py once to "
                                  "migrate it, then ingest again with --full-refresh to keep the text of every file")
            where = request_events(conn, args.request) if args.request else args.where
            kept = EventTexts(conn)  # an invocation's events share a file or two: each is split once
            texts = [file_text(conn, file_id) if line is None
                     else (kept.get(file_id, line) or event_text(conn, file_id, line)) + "\n"
                     for file_id, line in where]
    finally:
        engine.dispose()
    for (file_id, line), text in zip(where, texts):
        if len(where) > 1 or args.request:
            print(f"==> {file_id}{'' if line is None else f':{line}'} <==")
        sys.stdout.write(text)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
