"""Deterministic generator of realistic balance-sync CloudWatch exports (`python -m sample`).

    python -m sample --out DIR --days N --users N --seed N [--start 2024-01-01] [--twins] [--junk] [--truth PATH]

writes `DIR/<export-task-uuid>/<YYYY-MM-DD>-[$LATEST]<32 hex>/000000.gz`, byte-compatible
with a real export (shared/docs/log-format.md), and returns/prints a `SampleStats`
that tests use to cross-check ingestion: counts, exact per-currency sums and the
transaction ids of every deliberately injected fault. `generate(...)` does the same
from Python. The same arguments always give byte-identical files.

With `--truth PATH` it also injects a case of every detector and discrepancy kind, with near
misses (ledger/cases.py), and writes to PATH, beside DIR, every finding the export should give
(truth.py; bench/bench_detectors.py scores the detectors against it). Without it, none of this
changes a byte.

Where each part lives:

    cli.py          the command line (python -m sample; python -m ingest.sample is an alias)
    export.py       generate(): checks the arguments, runs the ledger, writes the days (in workers)
    ledger/         what happens: who pays what and when, faults included → one DayPlan per day
    plan.py         the DayPlan, its messages and transactions (ledger → streams)
    streams/        how it is logged: invocations, execution environments, timings, files
    text/           the byte-exact text of every log line, number and identifier
    currencies.py   the five currencies
    stats.py        SampleStats, what an export contains
    truth.py        --truth: the list of every finding the export should give
    junk.py         macOS junk files (--junk)
    draws.py        random draws shared by the ledger and the streams
"""
from sample.cli import main
from sample.export import SampleUsageError, generate
from sample.ledger.timeline import NIS_MEANING_SWITCH
from sample.stats import SampleStats

__all__ = ["generate", "SampleStats", "SampleUsageError", "NIS_MEANING_SWITCH", "main"]
