"""Reading, parsing and loading CloudWatch exports into the ingest tables (see ingest.run.open_run)."""

SETTINGS_USED = ("DATABASE_URL", "LOG_DIR", "MAX_FILE_MB", "BUSINESS_TZ", "BALANCE_TOLERANCE")
