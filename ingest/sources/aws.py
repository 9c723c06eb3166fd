"""AWS clients for the S3 and CloudWatch Logs sources, and what AWS's errors mean for a run.

Credentials come from the standard AWS chain (environment variables, the shared config and credentials files,
SSO, an instance or task role); the profile, region and endpoints are settings (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3) and, left empty, botocore finds them itself as the AWS CLI does. No key is
ever a flag. Throttling and transient failures (HTTP 429 and 5xx, a dropped connection) are retried by botocore's
`standard` retry mode: up to MAX_ATTEMPTS attempts, exponential backoff with full jitter.

What no other request could escape ends the run (`stop`): access denied, credentials missing, expired or unknown,
a missing bucket or log group, an endpoint that does not answer, throttling that outlasts the retries.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import NamedTuple

from errors import AccessDenied, BalanceLogsError, InputError, UsageError

MAX_ATTEMPTS = 8  # botocore's standard mode: backoff min(20 s, random() * 2 ** attempt) between attempts
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
POOL_CONNECTIONS = 16  # at least the reading threads of one process (ingest.prepare.READ_AHEAD)

DENIED = frozenset({"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "AuthorizationError",
                    "Forbidden", "403"})
UNKNOWN_CREDENTIALS = frozenset({"InvalidAccessKeyId", "InvalidClientTokenId", "UnrecognizedClientException",
                                 "SignatureDoesNotMatch", "IncompleteSignature", "InvalidToken",
                                 "MissingAuthenticationToken", "MissingAuthenticationTokenException"})
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
THROTTLED = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                       "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "LimitExceededException",
                       "RequestThrottled", "ServiceUnavailable", "InternalError"})
NOT_FOUND = {"NoSuchBucket": "no such bucket", "ResourceNotFoundException": "no such log group"}


class AwsConfig(NamedTuple):
    """The settings a client is made from (picklable: worker processes make their own clients)."""
    profile: str = ""
    region: str = ""
    endpoint: str = ""
    endpoint_s3: str = ""


def config_of(settings) -> AwsConfig:
    return AwsConfig(*((settings.get(name) or "").strip() for name in
                       ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")))


def client(service: str, config: AwsConfig):
    """A client of `service` ('s3' or 'logs') for this process (clients are thread-safe, not fork-safe)."""
    return _client(service, config, os.getpid())


def forget_clients() -> None:
    """Every run makes its clients anew, so that it finds the credentials as they are now (the scheduler runs
    for weeks; keys in the environment or files change)."""
    _client.cache_clear()


@lru_cache(maxsize=8)
def _client(service: str, config: AwsConfig, pid: int):
    # botocore itself (boto3's engine): boto3 would add its transfer manager's imports to every run
    from botocore.config import Config
    from botocore.exceptions import NoRegionError, ProfileNotFound
    from botocore.session import Session
    endpoint = (config.endpoint_s3 if service == "s3" else "") or config.endpoint or None
    options = {"retries": {"mode": "standard", "max_attempts": MAX_ATTEMPTS}, "connect_timeout": CONNECT_TIMEOUT,
               "read_timeout": READ_TIMEOUT, "max_pool_connections": POOL_CONNECTIONS}
    if service == "s3" and endpoint:
        options["s3"] = {"addressing_style": "path"}  # S3-compatible stores (MinIO, a local server) want the path
    try:
        session = Session(profile=config.profile or None)
        # timestamps stay text (we read none): dateutil parsing each object's LastModified cost more CPU than
        # the rest of a run with nothing new (the AWS CLI keeps them as text the same way)
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
        return session.create_client(service, region_name=config.region or None, endpoint_url=endpoint,
                                     config=Config(**options))
    except ProfileNotFound:
        raise UsageError(f"AWS_PROFILE={config.profile!r}: no such profile in the AWS config and credentials "
                         "files") from None
    except NoRegionError:
        raise UsageError("no AWS region: set AWS_REGION (or a region in the AWS profile)") from None
    except ValueError as exc:  # an endpoint that is no URL
        raise UsageError(f"AWS endpoint {endpoint!r}: {exc}") from None


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError, else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")) or None


def stop(exc: BaseException, where: str) -> BalanceLogsError | None:
    """The one-line error that ends the run for an AWS exception met reading `where`, or None when the exception
    is not AWS's (the caller decides)."""
    from botocore import exceptions as bx
    if isinstance(exc, BalanceLogsError):
        return exc
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return AccessDenied(f"{where}: no AWS credentials found: set AWS_PROFILE, the standard AWS_* environment "
                            "variables, or run where a role is attached")
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return AccessDenied(f"{where}: the AWS SSO session has expired or is missing ({type(exc).__name__}): "
                            "run `aws sso login` and ingest again")
    if isinstance(exc, bx.CredentialRetrievalError):
        return AccessDenied(f"{where}: the AWS credentials could not be obtained: {exc}")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return BalanceLogsError(f"{where}: cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')} "
                                f"after {MAX_ATTEMPTS} attempts; check AWS_ENDPOINT_URL and the network")
    if isinstance(exc, bx.ClientError):
        code = error_code(exc) or "?"
        message = exc.response.get("Error", {}).get("Message") or ""
        if code in DENIED:
            return AccessDenied(f"{where}: access denied ({code}): the AWS identity in use may not read it; "
                                "see the IAM policy in docs/ingest.md")
        if code in EXPIRED:
            return AccessDenied(f"{where}: the AWS credentials have expired ({code}): renew them (e.g. aws sso "
                                "login) and ingest again")
        if code in UNKNOWN_CREDENTIALS:
            return AccessDenied(f"{where}: AWS does not accept the credentials in use ({code}); check AWS_PROFILE "
                                "and the AWS_* environment variables")
        if code in NOT_FOUND:
            return InputError(f"{where}: {NOT_FOUND[code]}" + (f" ({message})" if message else ""))
        if _throttled(exc):
            return BalanceLogsError(f"{where}: AWS still throttles after {MAX_ATTEMPTS} attempts ({code}); "
                                    "ingest again later")
        return BalanceLogsError(f"{where}: AWS error {code}" + (f": {message}" if message else ""))
    if isinstance(exc, bx.BotoCoreError):
        return BalanceLogsError(f"{where}: {exc}")
    return None


def _throttled(exc) -> bool:
    """Throttling or a transient server error: what the retries were for."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(exc) in THROTTLED or status == 429 or isinstance(status, int) and status >= 500
