"""The tables ingestion writes: the public interface of balance-logs.

Conventions (see docs/architecture.md):
- `ts` is the event's UTC timestamp as ISO-8601 text with milliseconds and a
  `Z` (`2024-02-13T21:01:05.050Z`): it sorts as time on every database and is
  exactly what the log printed. `ts_ms` is the same instant in epoch
  milliseconds for window arithmetic; `business_date` is the day in the
  business time zone (BUSINESS_TZ), as `YYYY-MM-DD`.
- Money columns are BIGINT micro-units (see db/money.py); `*_text` keeps the
  literal exactly as the log printed it.
- Every row derived from a log event carries `file_id` and `line_no`.

Derived tables (`user_balances`, `discrepancy_report`, `anomalies`, …) are
built by transform/ from these; their columns are documented there.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary,
                        MetaData, String, Table, Text)

metadata = MetaData()

Money = BigInteger  # micro-units; the alias says what the integer means


def _provenance() -> list[Column]:
    return [
        Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=False),
        Column("line_no", Integer, nullable=False),
    ]


ingest_runs = Table(
    "ingest_runs", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("status", String(16), nullable=False),  # running | ok | damaged | failed | interrupted
    Column("exit_code", Integer),
    Column("paths", Text),
    Column("business_tz", String(64)),
    Column("count_files_seen", Integer, default=0),
    Column("count_files_new", Integer, default=0),
    Column("count_files_skipped", Integer, default=0),
    Column("count_files_failed", Integer, default=0),
    Column("count_files_damaged", Integer, default=0),
    Column("count_events", Integer, default=0),
    Column("count_transactions", Integer, default=0),
    Column("count_conflicts", Integer, default=0),
    Column("count_quarantined", Integer, default=0),
    Column("count_unknown", Integer, default=0),
    Column("bytes_read", BigInteger, default=0),
    Column("summary_json", Text),
)

ingested_files = Table(
    "ingested_files", metadata,
    Column("file_id", Integer, primary_key=True),
    Column("path", Text, nullable=False),  # as ingest read it (compared on every run to skip unchanged files)
    Column("relative_path", Text),  # below the folder ingest was given (the file's name when given the file)
    Column("member", Text),  # entry inside a .zip, else NULL
    Column("stream_name", Text),
    Column("content_hash", String(64), nullable=False, unique=True),  # sha256 of the decoded bytes
    Column("file_size", BigInteger),  # on disk (compressed)
    Column("mtime_ns", BigInteger),
    Column("etag", Text),  # an S3 object's ETag (path s3://bucket/key), else NULL
    Column("size_bytes", BigInteger),  # decompressed
    Column("format", String(16)),  # text | gzip | zip | aws-json
    Column("status", String(16), nullable=False),  # ok | damaged
    Column("error", Text),
    Column("count_events", Integer),
    # the event id of the file's first event; its events have the next count_events ids (ingest/loader.py)
    Column("first_event_id", BigInteger),
    Column("count_transactions", Integer),
    Column("count_quarantined", Integer),
    Column("count_unknown", Integer),
    Column("count_replaced_chars", Integer),  # bad UTF-8 bytes and NULs replaced by U+FFFD
    Column("run_id", Integer, ForeignKey("ingest_runs.run_id")),
    Column("ingested_at", String(32)),
)
Index("ix_ingested_files_path", ingested_files.c.path, ingested_files.c.member)

# Each stored file's text, kept once and compressed: what the `file_id` and `line_no` of every row point into
# (docs/ingest.md, "How events are stored"; `python -m ingest show FILE_ID:LINE` prints one event's text).
# `gzip` holds the bytes ingest decoded (before decoding: the sha256 of what it expands to is the file's
# content_hash), gzip-compressed: a gzip file read whole keeps its own bytes. Files ingested before migration
# 0011 have no row here.
file_texts = Table(
    "file_texts", metadata,
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), primary_key=True, autoincrement=False),
    Column("gzip", LargeBinary, nullable=False),
)

# One row per log event, except the events a typed row holds whole (migration 0015): a transaction's applied
# copy (balance_events), a not-in-sync error, a guard refusal, and the START, END and REPORT lines of an
# invocation written in one piece (invocations points at them). db/events.py `every_event()` is every event.
parsed_logs = Table(
    "parsed_logs", metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    *_provenance(),
    Column("ts", String(24), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("business_date", String(10), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("detail", Text),  # short qualifier: metric name, skip variant, error type…
    Column("level", String(8)),
    Column("request_id", String(40)),
    Column("message_id", String(40)),
    Column("transaction_id", String(40)),  # the sync block of the same SQS message, when known
    Column("user_id", String(64)),
    Column("parse_status", String(12), nullable=False),  # ok | quarantined | unknown
    # The first line of the message, after the prefix: only in rows of files ingested before migration 0011
    # (since then the whole text is in file_texts, and this is NULL).
    Column("text", Text),
    # The parsed object as JSON (numbers exact), for the kinds no typed table holds (ingest.loader.TYPED_KINDS
    # have NULL here since migration 0011: their typed row and file_texts hold them).
    Column("payload", Text),
)
# No index by request_id (dropped in migration 0012: a random key costs every insert a random page): one
# invocation's events are among its stream's files (ingest/texts.py, `python -m ingest show --request ID`).
# Nothing by business date or kind either (dropped in migration 0014): file_event_counts says which files hold a
# day's events of a kind, and the (file, line) index finds them there.
Index("ix_parsed_logs_file", parsed_logs.c.file_id, parsed_logs.c.line_no)

# Events per file, business date, kind and detail, counted as each file is parsed: the daily system
# figures (daily_event_counts) sum these few rows instead of grouping every parsed_logs row again.
file_event_counts = Table(
    "file_event_counts", metadata,
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=False),
    Column("business_date", String(10), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("detail", Text),
    Column("count_events", Integer, nullable=False),
)
# the first and last business dates of the data, and which files hold a day's events of a kind (migration 0014)
Index("ix_file_event_counts_date_kind", file_event_counts.c.business_date, file_event_counts.c.kind)

balance_events = Table(
    "balance_events", metadata,
    Column("transaction_id", String(40), primary_key=True),
    Column("ts", String(24), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("business_date", String(10), nullable=False),
    Column("user_id", String(64)),
    Column("currency", String(8)),
    Column("type", String(16)),
    Column("type_inferred", Boolean, nullable=False),
    Column("schema", String(8), nullable=False),  # full | legacy
    Column("source", String(40)),
    Column("action", String(64)),
    Column("amount", Money), Column("amount_text", String(40)),
    Column("vat", Money), Column("vat_text", String(40)),
    Column("old_balance", Money), Column("old_balance_text", String(40)),
    Column("new_balance", Money), Column("new_balance_text", String(40)),
    Column("payment_balance", Money), Column("payment_balance_text", String(40)),
    Column("is_float_noise", Boolean, nullable=False),
    # What the Lambda did with it, from the message's later lines: published | already_synced |
    # refused_negative_balance | error | not_in_sync_only | unknown. A refused one never changed the balance.
    Column("outcome", String(32)),
    Column("update_payment_balance", Boolean),
    Column("metadata", Text),  # JSON text when the string was JSON, else the string as printed
    Column("metadata_is_json", Boolean),
    Column("extra_fields", Text),  # JSON of fields outside both schemas (kept, never dropped)
    Column("request_id", String(40)),
    Column("message_id", String(40)),
    Column("event_id", BigInteger, nullable=False),
    *_provenance(),
    # Derived columns, filled by transform/balance_events.sql (NULL until it runs).
    Column("net_change", Money),
    Column("expected_new_balance", Money),
    Column("calc_difference", Money),
    Column("is_calc_mismatch", Boolean),
    Column("suggested_adjustment", Money),
    Column("user_seq", Integer),
    Column("prev_new_balance", Money),
    Column("is_continuity_break", Boolean),
    Column("continuity_gap", Money),
    Column("is_overdraft_actual", Boolean),
    Column("is_overdraft_expected", Boolean),
    Column("is_overdraft_wallet", Boolean),
    Column("is_overdraft_crossing", Boolean),
    Column("overdraft_reason", String(64)),
)
Index("ix_balance_events_user_ts", balance_events.c.user_id, balance_events.c.ts, balance_events.c.transaction_id)
Index("ix_balance_events_date", balance_events.c.business_date, balance_events.c.currency)
# The overdraft events alone (5 % of the transactions on the 100x sample), with what the Overdraft tab counts
# them by: its counts and per-day roll-up read this instead of every transaction (migration 0013). The derived
# columns are filled by the transforms, which keep it up to date as they update the rows. A query reads it only
# when its WHERE says IS_OVERDRAFT itself (queries/overdrafts.py).
IS_OVERDRAFT = balance_events.c.overdraft_reason.isnot(None)
Index("ix_balance_events_overdraft", balance_events.c.business_date, balance_events.c.currency,
      balance_events.c.is_overdraft_crossing, balance_events.c.is_overdraft_actual,
      balance_events.c.is_overdraft_expected, balance_events.c.is_overdraft_wallet,
      sqlite_where=IS_OVERDRAFT, postgresql_where=IS_OVERDRAFT)

transaction_conflicts = Table(
    "transaction_conflicts", metadata,
    Column("conflict_id", Integer, primary_key=True),
    Column("transaction_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # duplicate (same payload) | conflict (different payload)
    Column("event_id", BigInteger, nullable=False),
    *_provenance(),
    Column("ts", String(24)),
    Column("detail", Text),  # the fields that differ, as JSON
)
Index("ix_transaction_conflicts_tx", transaction_conflicts.c.transaction_id)

not_in_sync_events = Table(
    "not_in_sync_events", metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("ts", String(24), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("business_date", String(10), nullable=False),
    Column("request_id", String(40)),
    Column("message_id", String(40)),
    Column("transaction_id", String(40)),  # tied through the SQS message, NULL if no sync block preceded it
    Column("user_id", String(64)),
    Column("subscription_balance", Money), Column("subscription_balance_text", String(40)),
    Column("payment_balance", Money), Column("payment_balance_text", String(40)),
    # before 2024-01-08 the Lambda printed the balance before the transaction, after it the balance after
    Column("subscription_balance_meaning", String(16)),  # old_balance | new_balance
    *_provenance(),
)
Index("ix_not_in_sync_tx", not_in_sync_events.c.transaction_id)

negative_balance_guards = Table(
    "negative_balance_guards", metadata,
    Column("event_id", BigInteger, primary_key=True),
    Column("ts", String(24), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("business_date", String(10), nullable=False),
    Column("request_id", String(40)),
    Column("message_id", String(40)),
    Column("transaction_id", String(40)),
    Column("user_id", String(64)),
    Column("current_balance", Money), Column("current_balance_text", String(40)),
    Column("message", Text),
    *_provenance(),
)

invocations = Table(
    "invocations", metadata,
    Column("request_id", String(40), primary_key=True),
    Column("file_id", Integer, ForeignKey("ingested_files.file_id"), nullable=False),
    Column("line_no", Integer),  # START line, else the first line seen
    Column("stream_name", Text),
    Column("start_ts", String(24)),
    Column("end_ts", String(24)),
    Column("business_date", String(10)),
    Column("duration_ms", Float),
    Column("billed_duration_ms", Integer),
    Column("memory_size_mb", Integer),
    Column("max_memory_used_mb", Integer),
    Column("init_duration_ms", Float),
    Column("is_cold_start", Boolean, nullable=False),
    Column("runtime_version", String(40)),
    Column("xray_trace_id", String(64)),
    Column("count_messages", Integer, nullable=False),
    Column("count_events", Integer, nullable=False),
    Column("error", Text),  # first error kind seen in the invocation
    Column("has_report", Boolean, nullable=False),
    # Its START, END and REPORT lines: how many, and where (the START's: file_id and line_no when start_ts is
    # set) with what their event rows would hold. The only line of its kind has no parsed_logs row (db/events.py).
    Column("count_starts", Integer),
    Column("count_ends", Integer),
    Column("count_reports", Integer),
    Column("end_file_id", Integer),
    Column("end_line_no", Integer),
    Column("end_date", String(10)),  # the END line's business date (its time is end_ts)
    Column("report_file_id", Integer),
    Column("report_line_no", Integer),
    Column("report_ts", String(24)),
    Column("report_date", String(10)),
)
Index("ix_invocations_date", invocations.c.business_date)

unknown = Table(
    "unknown", metadata,
    Column("event_id", BigInteger, primary_key=True),
    *_provenance(),
    Column("ts", String(24)),
    Column("raw", Text, nullable=False),
)

quarantine = Table(
    "quarantine", metadata,
    Column("quarantine_id", Integer, primary_key=True),
    *_provenance(),
    Column("event_id", BigInteger),  # NULL for damage that is not an event (e.g. a broken gzip tail)
    Column("kind", String(40)),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
)
Index("ix_quarantine_file", quarantine.c.file_id)

# One row: a number that grows by one in every transaction that changes the ingest tables (each group of
# files written, a --full-refresh). transform/state.py records the number a build was made from: equal
# numbers mean the same ingest data, whatever ids SQLite hands out again after a delete. db/generation.py.
ingest_generation = Table(
    "ingest_generation", metadata,
    Column("generation", BigInteger, nullable=False),
)

# What changed since the last build of the derived tables (db/pending.py): every user and business day whose
# rows a write of the ingest tables touched, noted in the same transaction. A build rebuilds the derived rows of
# those keys only and clears them; kind 'all' (a --full-refresh) makes it rebuild everything. A user's row also
# says where in their ledger (ordered by time, then transaction id) the first change is: every transaction
# before it is as the last build saw it, so a build may take that part's derived rows as they are.
pending_changes = Table(
    "pending_changes", metadata,
    Column("kind", String(8), primary_key=True),  # user | day | all
    Column("key", String(72), primary_key=True),  # '+' || user_id ('-': no user) | YYYY-MM-DD | all
    # a user's earliest changed point (ts, transaction_id); NULL: the whole ledger (and for days)
    Column("since_ts", String(24)),
    Column("since_tx", String(40)),
)

# How far each log stream has been read through the CloudWatch Logs API (ingest/sources/logs.py): every event
# of the stream with from_ms <= timestamp < to_ms is ingested, and the first count_at_to events (in the order the
# API returns them) at to_ms. Windows read apart leave a stream several spans; spans that meet are merged.
# Written in the transaction of the events they describe.
log_stream_checkpoints = Table(
    "log_stream_checkpoints", metadata,
    Column("log_group", String(512), primary_key=True),
    Column("stream_name", String(512), primary_key=True),
    Column("from_ms", BigInteger, primary_key=True),
    Column("to_ms", BigInteger, nullable=False),
    Column("count_at_to", Integer, nullable=False),
    Column("run_id", Integer, ForeignKey("ingest_runs.run_id")),
)

# Where the last complete read of a log group ended (its streams starting with stream_prefix; '' for all): a
# read without a window starts there, less an overlap (ingest/sources/logs.py).
log_group_reads = Table(
    "log_group_reads", metadata,
    Column("log_group", String(512), primary_key=True),
    Column("stream_prefix", String(512), primary_key=True),
    Column("read_to_ms", BigInteger, nullable=False),
    Column("run_id", Integer, ForeignKey("ingest_runs.run_id")),
)


def text_limits(table: Table) -> dict[str, int]:
    """{column: most characters} of the table's VARCHAR(n) columns. PostgreSQL refuses a longer value and SQLite
    would keep it: ingest checks values from the logs against these, so both keep the same."""
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length}


INGEST_TABLES = (ingest_runs, ingested_files, file_texts, parsed_logs, file_event_counts, balance_events,
                 transaction_conflicts, not_in_sync_events, negative_balance_guards, invocations, unknown,
                 quarantine, log_stream_checkpoints, log_group_reads)

# Alert-once state, written by alerts/ at the end of an ingest run (see docs/reports.md, "Alerts").
# One row per finding and channel: a finding is alerted once per channel; rows still unsent are
# retried on the next run. `fingerprint` is stable across rebuilds of the derived tables.
alert_state = Table(
    "alert_state", metadata,
    Column("fingerprint", String(160), primary_key=True),  # e.g. anomaly:<fingerprint>, overdraft:<transaction_id>
    Column("channel", String(16), primary_key=True),  # slack | email
    Column("finding_kind", String(16), nullable=False),  # overdraft | discrepancy | anomaly
    Column("severity", String(8)),
    Column("message", Text, nullable=False),  # the finding's line as first alerted (what, who, how much, link)
    Column("first_seen_at", String(24), nullable=False),
    Column("sent", Boolean, nullable=False, default=False),
    Column("sent_at", String(24)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_attempt_at", String(24)),
    Column("last_error", Text),
)
Index("ix_alert_state_pending", alert_state.c.channel, alert_state.c.sent)

# Reviews, written by the dashboard (queries/reviews.py; see docs/reports.md, "Reviews"): what accountants
# decided about each discrepancy and anomaly. Append-only: a save adds a row, nothing updates or deletes one,
# so the table is the full history and the latest row of a target (highest review_id) is its current state.
# Targets are keyed by their stable ids (discrepancy_report.discrepancy_id, anomalies.fingerprint); neither
# transforms nor --full-refresh touch this table, and a review whose target a rebuild no longer produces is
# kept (and listed as orphaned).
reviews = Table(
    "reviews", metadata,
    Column("review_id", Integer, primary_key=True),
    Column("target_type", String(16), nullable=False),  # vocabulary.REVIEW_TARGETS: discrepancy | anomaly
    Column("target_id", String(200), nullable=False),  # the discrepancy_id or the anomaly's fingerprint, as text
    Column("status", String(16), nullable=False),  # vocabulary.REVIEW_STATUSES
    Column("previous_status", String(16)),  # the target's latest status when this row was written (NULL: first)
    Column("assignee", String(64)),
    Column("note", Text),
    Column("reviewer", String(64), nullable=False),  # the signed-in user, or REVIEWER_NAME on loopback
    Column("reviewed_at", String(24), nullable=False),  # UTC, ISO-8601 with milliseconds and Z
    Column("user_id", String(64)),  # the target's user when reviewed: names the user of an orphaned review
)
Index("ix_reviews_target", reviews.c.target_type, reviews.c.target_id, reviews.c.review_id)
