"""A real server of the AWS APIs for the S3 and CloudWatch Logs sources: moto in server mode on a loopback port.

`moto_endpoint` starts `moto.server.ThreadedMotoServer` once per session (stopped at the end); the code under test
reaches it through AWS_ENDPOINT_URL, as it would reach MinIO or AWS itself: nothing of boto3 is patched.
`Proxy` is a small HTTP server in front of it that forwards every request, records it, and answers some itself
when told to, as AWS does when it throttles or a token expires, or not at all (a connection that hangs).
"""
from __future__ import annotations

import dataclasses
import gzip
import http.client
import logging
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.clock import ts_to_ms
from ingest.events import split_events

REGION = "us-east-1"
KEYS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "testing-secret"}


@pytest.fixture(scope="session")
def moto_endpoint():
    """http://127.0.0.1:PORT of a moto server running for the whole session."""
    from moto.server import ThreadedMotoServer
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Credentials in the environment (the standard chain's first link), and no AWS files of the machine's."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_DEFAULT_REGION", "LOG_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def client(service: str, endpoint: str, **keys):
    import boto3
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=keys.get("key", KEYS["AWS_ACCESS_KEY_ID"]),
                        aws_secret_access_key=keys.get("secret", KEYS["AWS_SECRET_ACCESS_KEY"]))


def reset(endpoint: str) -> None:
    """Forget every bucket, log group and IAM user (moto's own API)."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()


def iam_checks(endpoint: str, on: bool) -> None:
    """Let moto check every request's credentials and permissions from now on (IAM emulation), or stop it."""
    data = b"0" if on else b"inf"
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=data, method="POST",
                                     headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=30).close()


# --- putting an export where the sources read it ------------------------------------------------------

def upload(s3, root: Path, bucket: str, prefix: str, count: int | None = None) -> list[str]:
    """Every file below `root` (the first `count`) as an object `prefix` + its relative path; the keys, in
    reading order."""
    keys = []
    for path in sorted(p for p in root.rglob("*") if p.is_file())[:count]:
        key = prefix + path.relative_to(root).as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def stream_events(root: Path) -> dict[str, list[tuple[int, str]]]:
    """{stream: [(timestamp ms, message)]} of an export folder, each stream in time order as CloudWatch holds it."""
    streams: dict[str, list[tuple[int, str]]] = {}
    for path in sorted(root.rglob("000000.gz")):
        events = split_events(gzip.decompress(path.read_bytes()).decode("utf-8"))
        ordered = sorted(((ts_to_ms(e.ts), i, e.body) for i, e in enumerate(events)), key=lambda e: e[:2])
        streams.setdefault(path.parent.name, []).extend((ts, body + "\n") for ts, _, body in ordered)
    return streams


def put_log_group(logs, group: str, streams: dict[str, list[tuple[int, str]]]) -> int:
    """The streams' events put into a new log group; how many."""
    logs.create_log_group(logGroupName=group)
    count = 0
    for name, events in streams.items():
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        for start in range(0, len(events), 5000):
            batch = [{"timestamp": ts, "message": message} for ts, message in events[start:start + 5000]]
            logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=batch)
            count += len(batch)
    return count


# --- a proxy that can throttle, refuse or hang -------------------------------------------------------

@dataclasses.dataclass
class Rule:
    """Answer `times` requests that `match` with `status` and `body` instead of forwarding them; with `hang`, keep
    them waiting (until the proxy stops)."""
    match: Callable[[str, str, dict], bool]
    status: int = 503
    body: bytes = b""
    content_type: str = "application/xml"
    times: int = 1
    hang: bool = False
    after: int = 0  # let this many matching requests through first
    cut: int | None = None  # forward it, but drop the connection after this many bytes of the answer's body


def s3_get_object(method: str, path: str, headers: dict) -> bool:
    bare = path.split("?", 1)[0]
    return method == "GET" and bare.count("/") >= 2 and "list-type" not in path


def s3_list(method: str, path: str, headers: dict) -> bool:
    return method == "GET" and "list-type=2" in path


def logs_call(action: str) -> Callable[[str, str, dict], bool]:
    return lambda method, path, headers: headers.get("X-Amz-Target", "").endswith("." + action)


def s3_error(code: str, message: str) -> bytes:
    return f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


def json_error(code: str, message: str) -> bytes:
    return f'{{"__type": "{code}", "message": "{message}"}}'.encode()


class Proxy:
    """http://127.0.0.1:PORT forwarding to `upstream`; `rules` answer instead, `requests` records what came."""

    def __init__(self, upstream: str):
        self.upstream = upstream.removeprefix("http://")
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, path, X-Amz-Target)
        self.ranges: list[str] = []  # the Range header of every request that had one
        self.answered: Counter = Counter()  # requests answered by a rule, per rule index
        self.released = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, headers.get("X-Amz-Target", "")))
                    if "Range" in headers:
                        proxy.ranges.append(headers["Range"])
                    rule = None
                    for candidate in proxy.rules:
                        if candidate.times > 0 and candidate.match(self.command, self.path, headers):
                            if candidate.after > 0:
                                candidate.after -= 1
                                continue
                            rule = candidate
                            break
                    if rule is not None:
                        rule.times -= 1
                        proxy.answered[proxy.rules.index(rule)] += 1
                if rule is not None and rule.cut is None:
                    if rule.hang:
                        proxy.released.wait()
                        return
                    self._send(rule.status, {"Content-Type": rule.content_type}, rule.body)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    kept = {k: v for k, v in answer.getheaders()
                            if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                    self._send(answer.status, kept, data, cut=rule.cut if rule is not None else None)
                finally:
                    upstream.close()

            def _send(self, status: int, headers: dict, data: bytes, cut: int | None = None):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data if cut is None else data[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # mid-body: the client sees the connection drop

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, match: Callable[[str, str, dict], bool]) -> int:
        with self.lock:
            return sum(1 for method, path, target in self.requests
                       if match(method, path, {"X-Amz-Target": target} if target else {}))

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_endpoint):
    with Proxy(moto_endpoint) as running:
        yield running


# --- what two databases hold ----------------------------------------------------------------------------

def same_files(url: str, root: str) -> dict:
    """dbsnap.snapshot with paths relative to `root` and without where the files lay (mtime on disk, ETag in
    S3): an export ingested from S3 gives what the same files give from a folder."""
    from tests import dbsnap
    engine, meta = dbsnap.reflect(url)
    engine.dispose()
    columns = [c.name for c in meta.tables["ingested_files"].columns
               if c.name not in dbsnap.BOOKKEEPING_COLUMNS | dbsnap.SEQUENCE_KEYS]
    where = {columns.index("mtime_ns"), columns.index("etag")}

    def relative(value):
        if isinstance(value, str) and value.startswith(root):
            return value[len(root):]
        return tuple(map(relative, value)) if isinstance(value, tuple) else value

    out = {}
    for table, rows in dbsnap.snapshot(url).items():
        kept = [tuple(relative(v) for i, v in enumerate(row) if table != "ingested_files" or i not in where)
                for row in rows]
        out[table] = sorted(kept, key=dbsnap._sort_key)
    return out


EVENT_TABLES = ("parsed_logs", "balance_events", "transaction_conflicts", "not_in_sync_events",
                "negative_balance_guards", "invocations", "unknown", "quarantine")
WHERE_READ = frozenset({"file_id", "line_no", "event_id", "quarantine_id", "conflict_id", "end_file_id",
                        "end_line_no", "report_file_id", "report_line_no"})


def events_read(url: str) -> dict:
    """Every ingested event and what was made of it, without where it was read (file, line, ids): the same
    events read from an export's objects or through the CloudWatch Logs API."""
    from sqlalchemy import func, select

    from tests import dbsnap
    engine, meta = dbsnap.reflect(url)
    out = {}
    try:
        with engine.connect() as conn:
            for name in EVENT_TABLES:
                table = meta.tables[name]
                cols = [c for c in table.columns if c.name not in WHERE_READ]
                rows = [tuple(dbsnap.normalise(v) for v in row) for row in conn.execute(select(*cols))]
                out[name] = sorted(rows, key=dbsnap._sort_key)
            counts = meta.tables["file_event_counts"].c
            out["file_event_counts"] = sorted(
                (tuple(dbsnap.normalise(v) for v in row) for row in conn.execute(
                    select(counts.business_date, counts.kind, counts.detail, func.sum(counts.count_events))
                    .group_by(counts.business_date, counts.kind, counts.detail))), key=dbsnap._sort_key)
    finally:
        engine.dispose()
    return out
