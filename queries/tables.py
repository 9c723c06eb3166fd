"""The derived tables reports and alerts read directly, declared from the contract with transform/.

transform/ owns these tables and builds them; this module names them for
reports and alerts, so queries are SQLAlchemy expressions
(bound parameters, booleans that render right on SQLite and PostgreSQL) rather
than SQL strings. Money columns are BIGINT micro-units (db/money.py). The
declarations come from transform/tables.py (SQLAlchemy only, no dashboard), so
alerts/ (run at the end of every ingest) stays light.
"""
from __future__ import annotations

from db import schema as s
# transform/ owns the derived tables; its declarations are the one copy of their columns and types.
from transform.tables import anomalies, daily_flows, discrepancy_report, user_balances  # noqa: F401

balance_events = s.balance_events  # ingest table; its derived columns are filled by transform/
parsed_logs = s.parsed_logs
