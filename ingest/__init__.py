"""Reading, parsing and loading CloudWatch exports (see ingest.run.run)."""
