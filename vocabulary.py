"""The words every part of balance-logs uses for what it stores: declared once, imported everywhere.

Ingest writes these values, transform derives from them, the read layer filters on them and the
invariant sidecars (transform/invariants/*.yml) accept exactly them; tests/test_vocabulary.py holds
every copy that cannot import this module (YAML, SQL) against it.
"""
from __future__ import annotations

# parsed_logs.kind: what a log event is (ingest/classify.py maps message text to these)
SKIP_KINDS = ("skip_create_subscription", "skip_create_web_subscription", "skip_already_synced",
              "skip_flag_false")
# errors of the Lambda (init_report: the init phase failed, e.g. Runtime.ExitError)
ERROR_KINDS = ("sync_error", "uncaught_exception", "invoke_error", "runtime_error", "init_report")
PLATFORM_KINDS = ("start", "end", "report", "init_start", "init_report")
EVENT_KINDS = ("debug_record", "debug_record_body", "debug_transaction", "end", "event_published",
               "init_report", "init_start", "invoke_error", "metric", "negative_balance_guard", "not_in_sync",
               "processing", "report", "runtime_error", "skip_already_synced", "skip_create_subscription",
               "skip_create_web_subscription", "skip_flag_false", "slack_notification", "start", "sync",
               "sync_error", "transaction_lock", "uncaught_exception", "unknown")

# discrepancy_report
DISCREPANCY_KINDS = ("out_of_sync", "calculation", "continuity", "untied_error")
DISCREPANCY_STATUSES = ("open", "resolved")

# anomalies: one name per detector (transform/detectors/<name>.sql or transform/robust.py)
SQL_DETECTORS = ("frequent_discrepancies", "vat_mismatch", "unknown_action", "duplicate_transaction",
                 "rapid_deduction", "burst", "off_hours_manual", "float_noise", "multi_currency", "test_user",
                 "negative_amount", "continuity_gap")
DETECTORS = ("amount_spike", *SQL_DETECTORS, "error_day")
SEVERITIES = ("low", "medium", "high")  # in rising order

# balance_events.overdraft_reason
OVERDRAFT_REASONS = ("actual", "expected", "wallet", "crossing", "guard")

# reviews (written by the dashboard, queries/reviews.py): what a review is about, and what reviewers decide.
# A target nobody has reviewed yet shows the first status.
REVIEW_TARGETS = ("discrepancy", "anomaly")
REVIEW_STATUSES = ("new", "investigating", "explained", "written_off", "false_positive")
