"""`python ingest.py [LOG_DIR | s3://BUCKET/PREFIX/ ...]` or `python ingest.py --log-group NAME [window]`:
argument parsing, progress and the summary.

All logic lives in pipeline.run; this module only turns arguments into a call,
and results or errors into lines on the terminal and an exit code (errors.run_command).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from errors import UsageError, reader_left, run_command
from ingest.sources.logs import window
from pipeline import SETTINGS_USED, LogGroupRead, Summary, run, what_to_read
from settings import add_flags, from_args

PROG = "ingest.py"

EPILOG = """examples:
  python ingest.py                                     read LOG_SOURCE (LOG_DIR when it is empty)
  python ingest.py data/logs export.zip                folders, files, zip archives, AWS CLI JSON
  python ingest.py s3://my-bucket/exports/             an export task's objects in S3 (new objects only)
  python ingest.py --log-group /aws/lambda/NAME        the CloudWatch Logs API, from where the last read ended
  python ingest.py --log-group /aws/lambda/NAME --since 2d
  python ingest.py --log-group /aws/lambda/NAME --start 2024-02-13T00:00Z --end 2024-02-14T00:00Z

AWS credentials come from the standard chain (environment, ~/.aws files, SSO, instance or task role);
see docs/ingest.md for the IAM policy of each source.

exit status:
  0  every file ingested (or already known)
  1  the run failed (database unreachable, AWS unreachable or still throttling, unexpected error);
     nothing of the current file is kept
  2  usage error: bad option, a path, bucket or log group that does not exist, or no log file in the paths
  3  finished, but some input was damaged or not a regular file: see 'problems' in the summary
  4  another ingest is running on the same database (with --no-wait)
  5  AWS refused: access denied, or credentials missing, expired or not recognised; what was ingested
     before is kept
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Ingest CloudWatch Logs exports of the balance-sync Lambda.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="LOG_DIR",
                        help="folders, files, .zip archives, AWS CLI JSON or s3://BUCKET/PREFIX/ URLs to ingest "
                             "(default: LOG_SOURCE, or LOG_DIR)")
    group = parser.add_argument_group("CloudWatch Logs API")
    group.add_argument("--log-group", metavar="NAME", help="read this log group through the API instead of files")
    group.add_argument("--since", metavar="DURATION",
                       help="with --log-group: events of the last DURATION (30m, 12h, 2d, 1w)")
    group.add_argument("--start", metavar="TIME", help="with --log-group: events from TIME (ISO 8601 with offset)")
    group.add_argument("--end", metavar="TIME", help="with --log-group: events up to TIME (default: now)")
    group.add_argument("--stream-prefix", metavar="P", default="",
                       help="with --log-group: only the log streams whose name starts with P")
    parser.add_argument("--full-refresh", action="store_true", help="forget everything ingested and rebuild")
    parser.add_argument("--summary-json", metavar="PATH", help="also write the summary as JSON to PATH")
    parser.add_argument("--no-transform", action="store_true", help="skip rebuilding the derived tables")
    parser.add_argument("--no-wait", action="store_true", help="exit 4 at once if another ingest is running")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="parser processes (default: one per core, at most 4, on SQLite; 1 on PostgreSQL, "
                             "from S3 and from a log group)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    add_flags(parser, SETTINGS_USED)  # a run ingests, builds and alerts
    return parser


class _Progress:
    """A rich progress bar on a terminal, plain lines every 10% otherwise."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.task, self.last_decile = quiet, None, None, -1

    def __call__(self, done: int, total: int | None, path: str) -> None:
        if self.quiet or not total:
            return
        if sys.stderr.isatty():
            if self.bar is None:
                from rich.progress import Progress
                self.bar = Progress(transient=True)
                self.bar.start()
                self.task = self.bar.add_task("ingesting", total=total)
            self.bar.update(self.task, completed=done)
            if done >= total:
                self.bar.stop()
            return
        decile = done * 10 // total
        if decile != self.last_decile:
            self.last_decile = decile
            print(f"ingest: {done}/{total} files", file=sys.stderr, flush=True)


def print_summary(summary: Summary) -> None:
    out = [f"ingest run {summary.run_id}: {summary.status} in {summary.seconds:.2f}s ({summary.database})",
           f"  files:        {summary.files_new} new, {summary.files_skipped} skipped, "
           f"{summary.files_failed} failed, {summary.files_damaged} damaged (of {summary.files_seen})"
           + (f"; {summary.files_not_regular} not regular files, not opened" if summary.files_not_regular else ""),
           f"  events:       {summary.events}",
           f"  transactions: {summary.transactions} new, {summary.duplicates} logged again, "
           f"{summary.conflicts} conflicting (same id, different content)",
           f"  quarantined:  {summary.quarantined}    unknown: {summary.unknown}"]
    if summary.log_group:
        read = summary.log_group
        out.insert(1, f"  log group:    {read['log_group']}"
                      + (f" (streams {read['stream_prefix']}*)" if read["stream_prefix"] else "")
                      + f", {read['start']} to {read['end']}, {read['requests']} request(s)"
                      + ("" if read["complete"] else ", not read to the end"))
    if summary.events_by_kind:
        out.append("  by kind:      " + ", ".join(f"{k} {v}" for k, v in summary.events_by_kind.items()))
    for problem in summary.problems[:20]:
        out.append(f"  problem: {problem['path']}: {problem['problem']}")
    if len(summary.problems) > 20:
        out.append(f"  … and {len(summary.problems) - 20} more problems (see --summary-json)")
    if summary.transform and summary.transform.get("skipped"):
        out.append(f"  derived tables: {summary.transform['skipped']} (not rebuilt)")
    elif summary.transform:
        build = summary.transform
        out.append(f"  derived tables: {build.get('build', 'built')} in {build.get('seconds', '?')}s")
        out.append("  rows:         " + ", ".join(f"{k} {v}" for k, v in build.items()
                                                  if isinstance(v, int) and not isinstance(v, bool)))
    alerts = summary.alerts or {}
    if alerts.get("status") not in (None, "off"):
        sent = {name: r.get("sent", 0) for name, r in alerts.get("channels", {}).items()}
        out.append(f"  alerts:       {alerts['status']}, sent {sent}" + (f" ({alerts['error']})" if alerts.get("error") else ""))
    print("\n".join(out))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # After a failed executemany psycopg warns that it ignored an error ending its pipeline ("pipeline
    # aborted"); the failure itself is recorded against its file, or is the one line the command prints.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    return run_command(PROG, lambda: _ingest(args),
                       interrupted="files completed so far are kept, run again to continue")


def _what_to_read(args, settings) -> tuple[list[str], LogGroupRead | None]:
    window_flags = [f for f, v in (("--since", args.since), ("--start", args.start), ("--end", args.end),
                                   ("--stream-prefix", args.stream_prefix)) if v]
    if args.log_group is not None:
        if args.paths:
            raise UsageError("give either paths or --log-group, not both")
        if not args.log_group.strip():
            raise UsageError("--log-group needs the name of a log group, e.g. /aws/lambda/NAME")
        paths, read = [], LogGroupRead(args.log_group.strip())
    elif args.paths:
        paths, read = args.paths, None
    else:
        paths, read = what_to_read(settings)
    if read is None:
        if window_flags:
            raise UsageError(f"{window_flags[0]} goes with --log-group (or LOG_SOURCE=log-group:NAME)")
        return paths, None
    start_ms, end_ms = window(args.since, args.start, args.end)
    return [], dataclasses.replace(read, start_ms=start_ms, end_ms=end_ms, stream_prefix=args.stream_prefix)


def _ingest(args) -> int:
    settings = from_args(args)
    paths, read = _what_to_read(args, settings)
    summary = run(paths, settings, full_refresh=args.full_refresh, workers=args.workers, read=read,
                  transform=not args.no_transform, wait=not args.no_wait, progress=_Progress(args.quiet))
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=2, default=str)
    try:
        print_summary(summary)
        sys.stdout.flush()
    except BrokenPipeError:  # the run itself is complete: its exit code stands
        reader_left()
    return summary.exit_code
