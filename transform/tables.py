"""The tables transform/ builds, declared once: the contract with app/ and reports/.

Each is dropped and rebuilt whole, inside the one transaction of a build, so a
reader sees either the previous build or the new one, and the result after
an incremental ingest equals the result after a full refresh. Indexes are
created after the rows are in. `ref_*` tables are small lookups made from the
settings (app/ may use ref_currencies for display precision); `int_*` tables
are intermediate steps, never kept. With one connection (PostgreSQL, and SQLite on one lane) they are
TEMPORARY: private to it and, on SQLite, in its temp file instead of the WAL, so the ~1 GB they take on the
100x sample is neither written to the WAL nor checkpointed into the database. The two-lane SQLite build
(transform/lanes.py) keeps them in scratch files that both of its connections read, for the same reason.

Money columns are BIGINT micro-units (db/money.py); `*_at` are UTC ISO texts;
`*_date` are business dates (BUSINESS_TZ) as YYYY-MM-DD.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()
scratch_metadata = MetaData()  # the intermediate tables as plain tables (see _intermediate)
Money = BigInteger

ref_currencies = Table(
    "ref_currencies", metadata,
    Column("currency", String(8), primary_key=True),
    Column("minor_unit", Integer, nullable=False),  # decimal places (ISO 4217)
    Column("unit_micros", BigInteger, nullable=False),  # one minor unit in micros: 1000 for BHD, 10000 for SAR
    Column("pow10", BigInteger, nullable=False),  # 10 ** minor_unit
    Column("vat_rate_num", BigInteger),  # VAT rate as an exact fraction num/den; NULL when unknown
    Column("vat_rate_den", BigInteger),
    Column("vat_tolerance_micros", BigInteger, nullable=False),
)

ref_tz_offsets = Table(
    "ref_tz_offsets", metadata,
    Column("valid_from_ms", BigInteger, primary_key=True),
    Column("valid_to_ms", BigInteger, nullable=False),
    Column("offset_ms", BigInteger, nullable=False),  # business time = UTC + offset
)

ref_action_checks = Table(
    "ref_action_checks", metadata,
    Column("action", String(64), primary_key=True),  # every action seen (NULL actions are checked in SQL)
    Column("status", String(16), nullable=False),  # known | typo | unknown | invalid
    Column("closest_action", String(64)),
    Column("distance", Integer),
)

def _intermediate(name: str, columns) -> Table:
    """An intermediate table, declared twice from the same columns: TEMPORARY where one connection builds and
    reads it (PostgreSQL, and SQLite on one lane), and in `scratch_metadata` as a plain table of the scratch
    files that both connections of the two-lane SQLite build read (transform/lanes.py)."""
    Table(name, scratch_metadata, *columns())
    return Table(name, metadata, *columns(), prefixes=["TEMPORARY"])


def _int_ledger_order_columns() -> list[Column]:
    return [
        # the rowid on SQLite: rows stored in event_id order, the order int_ledger reads balance_events in
        Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
        # (no transaction_id nor the text partition key: the sort by event_id moves 74 bytes a row less)
        # the user (NULL users: one more), as an integer: the event_id of the user's first transaction (in an
        # incremental build, scope_users.user_key)
        Column("user_key", BigInteger, nullable=False),
        Column("ledger_seq", Integer, nullable=False),  # position in the partition (user_seq, also without a user)
        # (no prev_transaction_id: the few rows that show it look it up at ledger_seq - 1; 26 bytes a row less to
        # sort, write and read back in int_ledger_order and int_ledger)
        Column("prev_new_balance", Money), Column("prev_ts_ms", BigInteger),
    ]


int_ledger_order = _intermediate("int_ledger_order", _int_ledger_order_columns)


def _int_ledger_columns() -> list[Column]:
    return [
        Column("transaction_id", String(40), nullable=False),  # unique (balance_events' key)
        Column("user_id", String(64)), Column("currency", String(8)), Column("type", String(16)),
        Column("schema", String(8)), Column("source", String(40)), Column("action", String(64)),
        Column("amount", Money), Column("vat", Money), Column("old_balance", Money), Column("new_balance", Money),
        Column("payment_balance", Money), Column("is_float_noise", Boolean),
        Column("ts", String(24)), Column("ts_ms", BigInteger), Column("business_date", String(10)),
        # the rowid on SQLite, in balance_events' order: the balance_events update walks both tables together
        Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
        Column("file_id", Integer), Column("line_no", Integer),
        Column("is_applied", Boolean),  # False when the Lambda refused it (negative-balance guard)
        # the derived columns of balance_events
        Column("net_change", Money), Column("expected_new_balance", Money), Column("calc_difference", Money),
        Column("is_calc_mismatch", Boolean), Column("suggested_adjustment", Money), Column("user_seq", Integer),
        Column("prev_new_balance", Money), Column("is_continuity_break", Boolean), Column("continuity_gap", Money),
        Column("is_overdraft_actual", Boolean), Column("is_overdraft_expected", Boolean),
        Column("is_overdraft_wallet", Boolean), Column("is_overdraft_crossing", Boolean),
        Column("overdraft_reason", String(64)),
        # the per-user window the later steps share
        Column("prev_ts_ms", BigInteger),
        Column("is_out_of_sync", Boolean),  # a not-in-sync error on it, or payment_balance ≠ new_balance
        # the window's partition as an integer (int_ledger_order.user_key, or scope_users.user_key in an
        # incremental build); the transactions without a user form one partition and have one key
        Column("user_key", BigInteger, nullable=False),
        Column("ledger_seq", Integer, nullable=False),  # position in the partition (user_seq, also without a user)
        # at or after the user's first change (transform/scope_users.sql): an incremental build derives these rows
        # again and keeps the stored ones before; every row in a full build
        Column("is_tail", Boolean, nullable=False),
    ]


int_ledger = _intermediate("int_ledger", _int_ledger_columns)


def _finding_columns() -> list[Column]:
    """A finding's columns: the detectors write them to int_anomaly_findings, anomalies adds its id."""
    return [
        Column("fingerprint", Text, nullable=False),  # unique in anomalies: ux_anomalies_fingerprint
        Column("detector", String(40), nullable=False),
        Column("severity", String(8), nullable=False),  # low | medium | high
        Column("user_id", String(64)),
        Column("currency", String(8)),
        Column("transaction_id", String(40)),
        Column("detected_at", String(24)),
        Column("business_date", String(10)),
        Column("score", Float),
        Column("amount", Money),
        Column("parameters", Text),
        Column("explanation", Text, nullable=False),
        Column("file_id", Integer),
        Column("line_no", Integer),
    ]


int_anomaly_findings = _intermediate("int_anomaly_findings", _finding_columns)

discrepancy_transactions = Table(
    "discrepancy_transactions", metadata,
    Column("discrepancy_id", String(60), nullable=False),  # the out_of_sync episode (discrepancy_report)
    Column("position", Integer, nullable=False),  # 1, 2, … in the episode; the resolving transaction last
    Column("role", String(16), nullable=False),  # out_of_sync | resolving
    Column("transaction_id", String(40), nullable=False),
    Column("user_id", String(64)),
    Column("currency", String(8)),
    Column("ts", String(24), nullable=False),
    Column("business_date", String(10), nullable=False),
    Column("subscription_balance", Money),  # new_balance
    Column("payment_balance", Money),  # the wallet the transaction printed (none for legacy ones)
    Column("gap", Money),  # subscription_balance - payment_balance: NULL when no wallet was printed
    Column("count_lambda_errors", Integer, nullable=False),
    Column("event_id", BigInteger),
    Column("file_id", Integer),
    Column("line_no", Integer),
)

discrepancy_report = Table(
    "discrepancy_report", metadata,
    # the same in every rebuild: '<kind>:<first transaction id>' (untied errors: time, message and line)
    Column("discrepancy_id", String(120), primary_key=True),
    Column("kind", String(16), nullable=False),  # out_of_sync | calculation | continuity | untied_error
    Column("status", String(16), nullable=False),  # open | resolved
    Column("user_id", String(64)),
    Column("currency", String(8)),
    Column("first_transaction_id", String(40)),
    Column("last_transaction_id", String(40)),
    Column("resolving_transaction_id", String(40)),
    Column("business_date", String(10), nullable=False),  # of first_seen_at
    Column("first_seen_at", String(24), nullable=False),
    Column("last_seen_at", String(24), nullable=False),
    Column("resolved_at", String(24)),
    Column("count_transactions", Integer, nullable=False),
    Column("count_lambda_errors", Integer, nullable=False),
    Column("subscription_balance", Money),  # of the last transaction
    Column("payment_balance", Money),
    Column("expected_balance", Money),  # what the compared balance should have been (calculation, continuity)
    Column("opening_gap", Money),
    Column("current_gap", Money),
    Column("max_abs_gap", Money),
    Column("amount_at_stake", Money),
    Column("age_days", Integer),  # business days from first seen to resolved, or to the data's last day
    Column("file_id", Integer),
    Column("line_no", Integer),
    Column("explanation", Text, nullable=False),
)

balance_rollforward_users = Table(
    "balance_rollforward_users", metadata,
    Column("user_id", String(64), nullable=False),
    Column("currency", String(8), nullable=False),
    Column("month", String(7), nullable=False),  # YYYY-MM of the business date
    Column("opening_balance", Money, nullable=False),  # the user's closing of their previous month (0 before)
    Column("first_seen_balance", Money, nullable=False),
    Column("credits", Money, nullable=False),
    Column("debits", Money, nullable=False),
    Column("credit_vat", Money, nullable=False),
    Column("debit_vat", Money, nullable=False),
    Column("calculation_differences", Money),
    Column("continuity_gaps", Money),
    Column("closing_balance", Money),  # after the user's last applied transaction of the month
    Column("count_transactions", Integer, nullable=False),
    Column("is_new_user", Boolean, nullable=False),  # the user's first transaction in this currency is this month
)

# Kept for the next build, read by no page or report: what an incremental build of amount_spikes needs to know of
# the groups it does not read (transform/amount_groups.sql).
amount_groups = Table(
    "amount_groups", metadata,
    Column("user_id", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("source", String(40), nullable=False),
    Column("action", String(64), nullable=False),
    Column("count_amounts", Integer, nullable=False),
    Column("least_amount", Money, nullable=False),
    Column("largest_amount", Money, nullable=False),
    Column("last_ts", String(24), nullable=False),  # the group's latest transaction time
)

balance_rollforward = Table(
    "balance_rollforward", metadata,
    Column("currency", String(8), nullable=False),
    Column("month", String(7), nullable=False),  # YYYY-MM of the business date
    Column("opening_balance", Money, nullable=False),
    Column("first_seen_balances", Money, nullable=False),
    Column("credits", Money, nullable=False),
    Column("debits", Money, nullable=False),
    Column("credit_vat", Money, nullable=False),  # VAT inside the credits (gross = credits + credit_vat)
    Column("debit_vat", Money, nullable=False),
    Column("calculation_differences", Money, nullable=False),
    Column("continuity_gaps", Money, nullable=False),
    Column("closing_balance", Money, nullable=False),
    Column("count_transactions", Integer, nullable=False),
    Column("count_users", Integer, nullable=False),
    Column("count_new_users", Integer, nullable=False),
)

anomalies = Table(
    "anomalies", metadata,
    Column("anomaly_id", Integer, primary_key=True),
    *_finding_columns(),
)

user_balances = Table(
    "user_balances", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("currency", String(8)),
    Column("balance", Money),
    Column("payment_balance", Money),
    Column("first_seen_at", String(24), nullable=False),
    Column("last_seen_at", String(24), nullable=False),
    Column("last_transaction_id", String(40), nullable=False),
    Column("count_transactions", Integer, nullable=False),
    Column("count_debits", Integer, nullable=False),
    Column("count_credits", Integer, nullable=False),
    Column("total_debit", Money),
    Column("total_credit", Money),
    Column("total_vat", Money),
    Column("is_overdrawn", Boolean, nullable=False),
    Column("overdrawn_since", String(24)),
    Column("wallet_overdrawn_since", String(24)),
    Column("count_discrepancies", Integer, nullable=False),
    Column("count_open_discrepancies", Integer, nullable=False),
    Column("count_continuity_breaks", Integer, nullable=False),
    Column("count_anomalies", Integer, nullable=False),
    Column("is_test_user", Boolean, nullable=False),
    Column("count_currencies", Integer, nullable=False),
)

daily_flows = Table(
    "daily_flows", metadata,
    Column("business_date", String(10), nullable=False),
    Column("currency", String(8)),
    Column("type", String(16)),
    Column("source", String(40)),
    Column("action", String(64)),
    Column("count_transactions", Integer, nullable=False),
    Column("total_amount", Money),
    Column("total_vat", Money),
    Column("total_net", Money),
    Column("count_users", Integer, nullable=False),
)

daily_health = Table(
    "daily_health", metadata,
    Column("business_date", String(10), primary_key=True),
    Column("count_invocations", Integer, nullable=False),
    Column("count_cold_starts", Integer, nullable=False),
    Column("p50_duration_ms", Float),
    Column("p95_duration_ms", Float),
    Column("max_duration_ms", Float),
    Column("avg_init_duration_ms", Float),
    Column("max_init_duration_ms", Float),
    Column("max_memory_used_mb", Integer),
    Column("memory_size_mb", Integer),
    Column("count_errors", Integer, nullable=False),
    Column("count_skips", Integer, nullable=False),
    Column("count_not_in_sync", Integer, nullable=False),
)

daily_event_counts = Table(
    "daily_event_counts", metadata,
    Column("business_date", String(10), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("detail", Text),
    Column("count_events", Integer, nullable=False),
)

# Created after the rows are inserted (faster than maintaining them row by row): (name, columns, unique).
INDEXES: dict[str, list[tuple[str, str, bool]]] = {
    # (no index on transaction_id: balance_events' key keeps it unique, and the few rows the detectors look up
    # are found by event_id, the key)
    "int_ledger": [# discrepancy_report: a user's next transaction that is (or is not) out of sync, by seek; with
                   # the two flags, finding the next one without a calculation or continuity break reads the index
                   # alone, with no row lookup per later transaction of the user;
                   # multi_currency reads the users' currencies from it in user order, without a sort
                   ("ix_int_ledger_user", "user_key, is_out_of_sync, ledger_seq, ts, is_calc_mismatch, "
                                          "is_continuity_break, currency", False)],
    "discrepancy_transactions": [("ux_discrepancy_transactions", "discrepancy_id, position", True),
                                 ("ix_discrepancy_transactions_tx", "transaction_id", False),
                                 # an incremental build replaces the rows of the users it rebuilds
                                 ("ix_discrepancy_transactions_user", "user_id", False)],
    "discrepancy_report": [("ix_discrepancy_report_user", "user_id, status", False),
                           ("ix_discrepancy_report_date", "business_date", False),
                           ("ix_discrepancy_report_status", "status, currency", False),
                           # the ledger looks up the breaks of the transactions it shows
                           ("ix_discrepancy_report_first_tx", "first_transaction_id", False)],
    "balance_rollforward_users": [("ux_balance_rollforward_users", "user_id, currency, month", True)],
    "balance_rollforward": [("ux_balance_rollforward", "currency, month", True)],
    "amount_groups": [("ux_amount_groups", "user_id, type, source, action", True)],
    "anomalies": [("ux_anomalies_fingerprint", "fingerprint", True),
                  ("ix_anomalies_user", "user_id", False),
                  ("ix_anomalies_date", "business_date", False),
                  ("ix_anomalies_detector", "detector, severity", False)],
    "daily_flows": [("ix_daily_flows_date", "business_date, currency", False)],
    "daily_event_counts": [("ix_daily_event_counts_date", "business_date", False)],
}

BY_NAME = {t.name: t for t in metadata.sorted_tables}
PUBLIC_TABLES = ("discrepancy_transactions", "discrepancy_report", "balance_rollforward_users", "balance_rollforward",
                 "anomalies", "user_balances", "daily_flows", "daily_health", "daily_event_counts")
