"""Query functions that return rows: what the dashboard shows, importable by reports/ and exports.

Every function takes an engine and validated `Filters` (plus a few named,
checked parameters) and returns a list of dicts with money in micro-units
(format it with `db.money.format_money`). A `TableQuery` (DISCREPANCIES,
ANOMALIES, …) is a table the dashboard pages in SQL; `all_rows()` streams the
whole filtered result of one, which is what the CSV export writes.
"""
from queries.anomalies import ANOMALIES, anomalies_per_day, anomaly_counts, anomaly_findings, detectors
from queries.base import (DERIVED_TABLE_NAMES, DISCREPANCY_KINDS, DISCREPANCY_STATUSES, OVERDRAFT_REASONS, SEVERITIES,
                          Filters, MissingTables)
from queries.discrepancies import (AGE_BUCKETS, DISCREPANCIES, DISCREPANCY_TRANSACTIONS, Exposure, data_last_day,
                                   discrepancies, episode_transactions, exposure, other_issues, rollforward)
from queries.flows import (GRANULARITIES, flow_series, flow_totals, regroup, transactions_per_day,
                           volume_by_source_action)
from queries.health import (ERROR_KINDS, INGEST_RUNS, INGESTED_FILES, QUARANTINE, errors_per_day, health_per_day,
                            ingest_totals, skips_per_day)
from queries.ledger import (USER_LEDGER, balance_history, busiest_user, find_users, user_discrepancies, user_exists,
                            user_ledger, user_summary, with_discrepancies)
from queries.meta import Freshness, currencies, data_period, freshness, latest_business_date
from queries.overdrafts import (OVERDRAFT_EVENTS, OVERDRAWN_USERS, overdraft_events, overdraft_summary,
                                overdrafts_per_day, overdrawn_users)
from queries.paging import Col, TableQuery, all_rows, count_rows, page

TABLES: dict[str, TableQuery] = {tq.name: tq for tq in (
    DISCREPANCIES, DISCREPANCY_TRANSACTIONS, ANOMALIES, OVERDRAWN_USERS, OVERDRAFT_EVENTS, USER_LEDGER, INGEST_RUNS, INGESTED_FILES,
    QUARANTINE)}

__all__ = [
    "Filters", "MissingTables", "TableQuery", "Col", "TABLES", "page", "count_rows", "all_rows", "DERIVED_TABLE_NAMES",
    "DISCREPANCY_KINDS", "DISCREPANCY_STATUSES", "OVERDRAFT_REASONS", "SEVERITIES", "GRANULARITIES", "ERROR_KINDS",
    "Freshness", "freshness", "currencies", "latest_business_date", "data_period",
    "flow_series", "regroup", "flow_totals", "volume_by_source_action", "transactions_per_day",
    "USER_LEDGER", "user_ledger", "with_discrepancies", "balance_history", "user_discrepancies", "user_summary",
    "find_users", "busiest_user", "user_exists",
    "OVERDRAWN_USERS", "OVERDRAFT_EVENTS", "overdrawn_users", "overdraft_events", "overdrafts_per_day",
    "overdraft_summary",
    "DISCREPANCIES", "DISCREPANCY_TRANSACTIONS", "AGE_BUCKETS", "Exposure", "discrepancies", "episode_transactions",
    "exposure", "other_issues", "data_last_day", "rollforward",
    "ANOMALIES", "anomaly_findings", "anomaly_counts", "anomalies_per_day", "detectors",
    "health_per_day", "skips_per_day", "errors_per_day", "ingest_totals", "INGEST_RUNS", "INGESTED_FILES",
    "QUARANTINE",
]
