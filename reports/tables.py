"""The derived tables reports and alerts read directly, declared from the contract with transform/.

transform/ owns these tables and builds them; this module only names the
columns used here, with their types, so queries are SQLAlchemy expressions
(bound parameters, booleans that render right on SQLite and PostgreSQL) rather
than SQL strings. Money columns are BIGINT micro-units (db/money.py). The
dashboard declares the same contract in app/queries/base.py; this light copy
lets alerts/ (run at the end of every ingest) avoid importing the dashboard.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text, column, table

from db import schema as s

Money = BigInteger

user_balances = table(
    "user_balances",
    column("user_id", String), column("currency", String),
    column("balance", Money), column("payment_balance", Money),
    column("first_seen_at", String), column("last_seen_at", String), column("last_transaction_id", String),
    column("count_transactions", Integer), column("count_debits", Integer), column("count_credits", Integer),
    column("total_debit", Money), column("total_credit", Money), column("total_vat", Money),
    column("is_overdrawn", Boolean), column("overdrawn_since", String),
    column("count_discrepancies", Integer), column("count_open_discrepancies", Integer),
    column("count_continuity_breaks", Integer), column("count_anomalies", Integer),
    column("is_test_user", Boolean), column("count_currencies", Integer),
)

discrepancy_report = table(
    "discrepancy_report",
    column("discrepancy_id", String), column("kind", String), column("status", String),
    column("user_id", String), column("currency", String), column("transaction_id", String),
    column("event_id", BigInteger), column("detected_at", String), column("business_date", String),
    column("subscription_balance", Money), column("payment_balance", Money), column("difference", Money),
    column("amount_at_stake", Money), column("first_seen_at", String), column("last_seen_at", String),
    column("resolved_at", String), column("file_id", Integer), column("line_no", Integer),
    column("explanation", Text),
)

anomalies = table(
    "anomalies",
    column("anomaly_id", String), column("fingerprint", String), column("detector", String),
    column("severity", String), column("user_id", String), column("currency", String),
    column("transaction_id", String), column("detected_at", String), column("business_date", String),
    column("score", Float), column("amount", Money), column("parameters", Text), column("explanation", Text),
    column("file_id", Integer), column("line_no", Integer),
)

daily_flows = table(
    "daily_flows",
    column("business_date", String), column("currency", String), column("type", String),
    column("source", String), column("action", String), column("count_transactions", Integer),
    column("total_amount", Money), column("total_vat", Money), column("total_net", Money),
    column("count_users", Integer),
)

balance_events = s.balance_events  # ingest table; its derived columns are filled by transform/
parsed_logs = s.parsed_logs
