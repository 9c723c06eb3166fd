"""The project's exceptions, exit codes and the one wrapper every command runs in.

A command's expected failures are exceptions from this module: the message names the thing and the fix,
the class says the exit code. `run_command` turns them into one line on stderr, in argparse's own shape
(`PROG: error: MESSAGE`), so a bad flag and a bad value read alike; anything else is one line too, with the
traceback only when BALANCE_LOGS_DEBUG=1. tests/test_errors.py pins every line.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXIT_OK = 0
EXIT_FAILURE = 1  # the command could not do its work (database or AWS unreachable, disk full, unexpected error)
EXIT_USAGE = 2  # bad option, setting or path, a missing bucket or log group, or no log file in the paths (argparse
# uses 2 as well)
EXIT_DAMAGED = 3  # ingest finished, but some input was damaged, unreadable, not a regular file, or quarantined
EXIT_BUSY = 4  # another ingest holds the database (ingest.py --no-wait)
EXIT_DENIED = 5  # AWS refused the credentials or the request: access denied, an expired or unknown token
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT

DEBUG_ENV = "BALANCE_LOGS_DEBUG"


class BalanceLogsError(Exception):
    """An expected failure: its message is the whole story for the user."""
    exit_code = EXIT_FAILURE


class UsageError(BalanceLogsError, ValueError):
    """Bad options or settings: nothing was done."""
    exit_code = EXIT_USAGE


class SettingsError(UsageError):
    """A setting has a value that cannot be used."""


class InputError(UsageError):
    """A path given to ingest cannot be read at all (missing, not a folder or file), or holds no log file."""


class BusyError(BalanceLogsError):
    """Another ingest holds the database."""
    exit_code = EXIT_BUSY


class AccessDenied(BalanceLogsError):
    """AWS refused to serve the logs: no permission, or credentials that are missing, expired or unknown."""
    exit_code = EXIT_DENIED


class ReportError(BalanceLogsError):
    """A report could not be written."""


def first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def describe(exc: Exception) -> str:
    """The one line for an exception that is not ours: what failed, where it could be said."""
    from sqlalchemy.exc import SQLAlchemyError  # only on the way out of a failed command
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {first_line(getattr(exc, 'orig', None) or exc)}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or 'the output'}: {exc.strerror}"
    return f"unexpected {type(exc).__name__}: {first_line(exc)} (set {DEBUG_ENV}=1 for the traceback)"


def reader_left() -> None:
    """`command | head`: stdout's reader went away; point stdout at /dev/null so nothing more fails at exit
    (as Python's docs on SIGPIPE advise)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_command(prog: str, body: Callable[[], int], interrupted: str = "") -> int:
    """Run a command's body and return its exit code; every failure becomes one line on stderr."""
    try:
        return body()
    except BrokenPipeError:
        reader_left()
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted" + (f"; {interrupted}" if interrupted else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BalanceLogsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"{prog}: error: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILURE
