"""CPU per S3 object: botocore's GetObject against the AWS Common Runtime's S3 client (awscrt), on a local server.

    pip install awscrt   # not a requirement of the project: this measures whether it should become one
    .venv/bin/python bench/bench_s3_clients.py [--corpus DIR] [--repeat N]

Issue 19 asks for an S3 ingest within 1.3x the CPU of a local one; botocore's own request path costs more than
that per object (docs/benchmarks.md, "S3 downloads without botocore's request path"). This uploads the export to
moto's server (bench/bench_aws.py) and reads every object back in this process, eight at a time, with each
client: this process's CPU seconds per object, best of `--repeat`. The ingest's own work on an object is not
in it.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_aws import BUCKET, start_server, upload  # noqa: E402

IN_FLIGHT = 8  # as the S3 source's download threads


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # awscrt's native threads are this process's too
    return usage.ru_utime + usage.ru_stime


def botocore_reader(endpoint: str):
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pool = ThreadPoolExecutor(IN_FLIGHT)
    return lambda keys: sum(pool.map(lambda key: len(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()), keys))


def crt_reader(endpoint: str):
    from awscrt import auth, http, io, s3
    loop = io.EventLoopGroup(2)
    bootstrap = io.ClientBootstrap(loop, io.DefaultHostResolver(loop))
    client = s3.S3Client(bootstrap=bootstrap, region="us-east-1", tls_mode=s3.S3RequestTlsMode.DISABLED,
                         credential_provider=auth.AwsCredentialsProvider.new_default_chain(bootstrap))
    host = endpoint.removeprefix("http://")

    def read(keys: list[str]) -> int:
        received, lock, slots, finished = [0], threading.Lock(), threading.Semaphore(IN_FLIGHT), []

        def on_body(chunk, **_):
            with lock:
                received[0] += len(chunk)

        for key in keys:
            slots.acquire()
            request = http.HttpRequest("GET", f"/{BUCKET}/{key}", http.HttpHeaders([("host", host)]))
            done = client.make_request(type=s3.S3RequestType.GET_OBJECT, request=request, on_body=on_body)
            done.finished_future.add_done_callback(lambda _: slots.release())
            finished.append(done.finished_future)
        for future in finished:
            future.result()
        return received[0]
    return read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpus/balance-sync-logs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if importlib.util.find_spec("awscrt") is None:
        print("bench_s3_clients: needs awscrt (pip install awscrt)", file=sys.stderr)
        return 2
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server, endpoint = start_server()
    try:
        count = upload(endpoint, args.corpus)
        import boto3
        keys = [o["Key"] for page in boto3.client("s3", endpoint_url=endpoint).get_paginator("list_objects_v2")
                .paginate(Bucket=BUCKET) for o in page.get("Contents", [])]
        print(f"{count} objects, {args.repeat} rounds each, {IN_FLIGHT} in flight")
        for name, reader in (("botocore", botocore_reader(endpoint)), ("awscrt", crt_reader(endpoint))):
            rounds = []
            for _ in range(args.repeat):
                cpu, wall = cpu_seconds(), time.perf_counter()
                size = reader(keys)
                rounds.append((cpu_seconds() - cpu, time.perf_counter() - wall))
            cpu, wall = min(rounds)
            print(f"{name:32s} {cpu * 1000 / len(keys):6.3f} ms CPU per object  {wall:6.2f} s wall  {size:,} bytes")
    finally:
        server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
