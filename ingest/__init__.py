"""Reading, parsing and loading CloudWatch exports into the ingest tables (see ingest.run.open_run)."""

SETTINGS_USED = ("DATABASE_URL", "LOG_DIR", "LOG_SOURCE", "MAX_FILE_MB", "BUSINESS_TZ", "BALANCE_TOLERANCE",
                 "AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
