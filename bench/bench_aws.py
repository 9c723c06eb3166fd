"""Reading from AWS: the real export from a local S3 server against the same files on disk; a log group likewise.

    .venv/bin/python bench/bench_aws.py [--corpus DIR] [--repeat N] [--log-group-days N --log-group-users N]

Starts moto's server (`moto[server]`, requirements-dev.txt) as its own process on a loopback port, uploads the
export into a bucket and times `ingest.py s3://…` as its own process against `ingest.py DIR` on the same files,
each into a fresh SQLite file without the transforms: wall time, CPU seconds of the ingest process tree (the
server's CPU is the server's: it is not a descendant of the measured command), peak memory of that tree, and a
re-run with nothing new. With `--log-group-days`, a sample export of the last days (CloudWatch takes no older
event) is put into a log group and `ingest.py --log-group` is timed against the local ingest of that sample.
moto's server closes every connection after one request, so each object costs the client a new TCP connection,
which S3 does not ask for: the rows "through a keep-alive front end" send the same requests through a small
forwarder on another loopback port that keeps the client's connections open (HTTP/1.1), as S3 does.
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import cache_bytecode, measure  # noqa: E402

BUCKET = "balance-logs"
GROUP = "/aws/lambda/balance-sync"
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return server, endpoint
        except OSError:
            time.sleep(0.1)
    raise SystemExit("moto's server did not start")


def keep_alive_front(upstream: str) -> tuple[ThreadingHTTPServer, str]:
    """A forwarder to `upstream` that keeps each client connection open (its own requests upstream are new
    connections: the server side's cost, not the client's)."""
    host = upstream.removeprefix("http://")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            connection = http.client.HTTPConnection(host, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                answer = connection.getresponse()
                data = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

    front = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    front.daemon_threads = True
    threading.Thread(target=front.serve_forever, daemon=True).start()
    return front, f"http://127.0.0.1:{front.server_address[1]}"


def ingest(args: list[str], db: Path, env: dict) -> dict:
    summary = db.with_suffix(".json")
    result = measure([sys.executable, str(ROOT / "ingest.py"), *args, "--no-transform", "-q",
                      "--database-url", f"sqlite:///{db}", "--summary-json", str(summary)], env=env, cwd=str(ROOT))
    if result["returncode"] not in (0, 3):
        raise SystemExit(f"ingest failed: {result['stderr']}")
    data = json.loads(summary.read_text())
    result.update(events=data["events"], files_new=data["files_new"], files_skipped=data["files_skipped"])
    for key in ("stdout", "stderr", "returncode"):
        result.pop(key)
    return result


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["cpu_seconds"])


def upload(endpoint: str, corpus: Path) -> int:
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                      aws_secret_access_key="bench")
    s3.create_bucket(Bucket=BUCKET)
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    for path in files:
        s3.put_object(Bucket=BUCKET, Key="exports/" + path.relative_to(corpus).as_posix(), Body=path.read_bytes())
    return len(files)


def put_group(endpoint: str, export: Path) -> int:
    import boto3

    from ingest.clock import ts_to_ms
    from ingest.events import split_events
    logs = boto3.client("logs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench")
    logs.create_log_group(logGroupName=GROUP)
    count = 0
    for path in sorted(export.rglob("000000.gz")):
        events = sorted((ts_to_ms(e.ts), i, e.body) for i, e in
                        enumerate(split_events(gzip.decompress(path.read_bytes()).decode())))
        logs.create_log_stream(logGroupName=GROUP, logStreamName=path.parent.name)
        for start in range(0, len(events), 5000):
            logs.put_log_events(logGroupName=GROUP, logStreamName=path.parent.name, logEvents=[
                {"timestamp": ts, "message": body + "\n"} for ts, _, body in events[start:start + 5000]])
        count += len(events)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/corpus/balance-sync-logs"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--log-group-days", type=int, help="also time a log group of a sample of that many days")
    parser.add_argument("--log-group-users", type=int, default=2000)
    args = parser.parse_args()
    cache_bytecode()
    server, endpoint = start_server()
    env = {**KEYS, "AWS_ENDPOINT_URL": endpoint}
    front, front_url = keep_alive_front(endpoint)
    kept = {**KEYS, "AWS_ENDPOINT_URL": front_url}
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            started = time.perf_counter()
            files = upload(endpoint, Path(args.corpus))
            print(f"uploaded {files} objects in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            url = f"s3://{BUCKET}/exports/"
            for name, source, extra, via in (
                    ("local folder", args.corpus, (), env), ("S3", url, (), env),
                    ("S3 through a keep-alive front end", url, (), kept),
                    ("local folder, one process", args.corpus, ("--workers", "1"), env),
                    ("S3, one process", url, ("--workers", "1"), env),
                    ("S3 through a keep-alive front end, one process", url, ("--workers", "1"), kept)):
                results[name] = best([ingest([source, *extra], tmp / f"{len(results)}-{i}.db", via)
                                      for i in range(args.repeat)])
            rerun = tmp / "rerun.db"
            ingest([url], rerun, env)
            results["S3, re-run with nothing new"] = min(
                (ingest([url], rerun, env) for _ in range(args.repeat)), key=lambda r: r["seconds"])
            if args.log_group_days:
                from sample import generate
                export = tmp / "recent"
                generate(export, days=args.log_group_days, users=args.log_group_users, seed=7,
                         start=date.today() - timedelta(days=args.log_group_days + 1))
                events = put_group(endpoint, export)
                print(f"put {events} events into {GROUP}", file=sys.stderr)
                results["sample, local folder"] = best([ingest([str(export)], tmp / f"s{i}.db", env)
                                                        for i in range(args.repeat)])
                results["sample, log group"] = best([ingest(["--log-group", GROUP], tmp / f"g{i}.db", env)
                                                     for i in range(args.repeat)])
                again = tmp / "g0.db"
                results["log group, re-run with nothing new"] = min(
                    (ingest(["--log-group", GROUP], again, env) for _ in range(args.repeat)),
                    key=lambda r: r["seconds"])
    finally:
        front.shutdown()
        server.terminate()
        server.wait(timeout=30)
    for name, r in results.items():
        print(f"{name:48s} {r['seconds']:7.2f} s  cpu {r['cpu_seconds']:6.2f} s  peak {r['peak_mb']:6.1f} MB  "
              f"{r['files_new']} new, {r['files_skipped']} skipped, {r['events']} events")


if __name__ == "__main__":
    main()
