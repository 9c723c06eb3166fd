"""The tables readers query: the derived ones as transform/ declares them, and the ingest tables they join.

transform/ owns the derived tables and builds them; its declarations (transform/tables.py) are the one copy
of their columns and types, named here for the dashboard, reports and alerts, so queries are SQLAlchemy
expressions (bound parameters, booleans that render right on SQLite and PostgreSQL) rather than SQL strings.
Money columns are BIGINT micro-units (db/money.py).
"""
from __future__ import annotations

from db import schema as s
from transform.tables import (anomalies, balance_rollforward, daily_event_counts, daily_flows,  # noqa: F401
                              daily_health, discrepancy_report, discrepancy_transactions, user_balances)

balance_events = s.balance_events  # ingest table; its derived columns are filled by transform/
parsed_logs = s.parsed_logs
