"""The reports' exceptions; reports/cli.py maps them to one-line messages and exit codes."""
from __future__ import annotations


class ReportError(RuntimeError):
    """A report could not be written; the message names the thing and the fix."""


class UsageError(ReportError, ValueError):
    """Bad options (unknown kind, malformed date, unknown column): exit status 2."""
