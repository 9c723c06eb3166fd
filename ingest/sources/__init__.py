"""Where logs are read from, besides folders and files (ingest/reader.py).

- `s3://BUCKET/PREFIX/`: the objects of a CloudWatch Logs export task in S3 (s3.py), listed into the same
  `Source`s as the files of a folder and read as streams by the same reader;
- `log-group:NAME`: a log group read through the CloudWatch Logs API (logs.py), its events handed to the same
  parser as the AWS CLI's JSON, each log stream's progress kept in the database (checkpoints.py).

aws.py makes the clients (credentials, region and endpoint from the standard AWS chain and the settings, retries
with backoff) and turns AWS's refusals into one-line errors. boto3 is imported only when a source needs it.
"""
from __future__ import annotations

S3_SCHEME = "s3://"
LOG_GROUP_SCHEME = "log-group:"


def is_s3(location: str) -> bool:
    return str(location).startswith(S3_SCHEME)


def log_group_of(location: str) -> str | None:
    """The log group named by `log-group:NAME`, else None."""
    text = str(location)
    return text[len(LOG_GROUP_SCHEME):] if text.startswith(LOG_GROUP_SCHEME) else None
