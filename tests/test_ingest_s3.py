"""`ingest.py s3://BUCKET/PREFIX/` against a real S3 API: moto's server on a loopback port (tests/aws.py).

The export is uploaded as a CloudWatch export task lays it out, and the database must equal a local ingest of the
same files, table for table. Then: nothing is downloaded again, new objects are, damage is recorded, and AWS's
refusals (no bucket, access denied, unknown or expired credentials) end the run with one line and their exit
code, keeping what was ingested; throttling is retried.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import text

import settings as settings_mod
from db.engine import make_engine
from errors import EXIT_DAMAGED, EXIT_DENIED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from pipeline import run
from tests.aws import (KEYS, Rule, aws_env, client, iam_checks, moto_endpoint, proxy, reset,  # noqa: F401
                       s3_error, s3_get_object, s3_list, same_files, upload)

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "balance-logs"
PREFIX = "exports/"
URL = f"s3://{BUCKET}/{PREFIX}"
SLICE_FILES = 150  # at most this many objects of the realistic export are uploaded (the real export has 1,672)


@pytest.fixture(scope="module")
def export_slice(realistic_dir, tmp_path_factory) -> Path:
    """The first SLICE_FILES objects of the realistic export (the real one with BALANCE_LOGS_CORPUS, else the
    sample), in a folder of their own with the export's layout."""
    out = tmp_path_factory.mktemp("slice")
    for path in sorted(p for p in realistic_dir.rglob("*") if p.is_file())[:SLICE_FILES]:
        target = out / path.relative_to(realistic_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return out


@pytest.fixture
def s3(moto_endpoint, aws_env):
    reset(moto_endpoint)
    bucket = client("s3", moto_endpoint)
    bucket.create_bucket(Bucket=BUCKET)
    return bucket


def settings_for(url: str, endpoint: str, **values):
    return settings_mod.load(os.devnull, DATABASE_URL=url, AWS_ENDPOINT_URL=endpoint, **values)


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "ingest.py"), "--no-transform", "-q", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **env}, timeout=300)


def test_an_export_in_s3_gives_the_database_a_local_ingest_of_it_gives(export_slice, s3, moto_endpoint, tmp_path):
    keys = upload(s3, export_slice, BUCKET, PREFIX)
    from_s3, in_workers = f"sqlite:///{tmp_path / 's3.db'}", f"sqlite:///{tmp_path / 'workers.db'}"
    local = f"sqlite:///{tmp_path / 'local.db'}"
    summary = run([URL], settings_for(from_s3, moto_endpoint))  # one process, downloading ahead in threads
    run([URL], settings_for(in_workers, moto_endpoint), workers=2)  # each worker downloads its groups
    run([str(export_slice)], settings_for(local, moto_endpoint))
    assert (summary.files_new, summary.files_failed, summary.files_damaged) == (len(keys), 0, 0)
    assert summary.exit_code == EXIT_OK and summary.transactions > 0
    assert same_files(from_s3, URL) == same_files(local, f"{export_slice}/") == same_files(in_workers, URL)
    with make_engine(from_s3).connect() as conn:
        paths = conn.execute(text("SELECT path, etag, mtime_ns FROM ingested_files ORDER BY file_id")).all()
    assert all(p.startswith(URL) and etag and mtime is None for p, etag, mtime in paths)


def test_a_second_run_downloads_nothing_and_a_new_object_is_picked_up(export_slice, s3, proxy, tmp_path):
    keys = upload(s3, export_slice, BUCKET, PREFIX)
    settings = settings_for(f"sqlite:///{tmp_path / 'db.sqlite'}", proxy.url)
    first = run([URL], settings, transform=False)
    assert first.files_new == proxy.count(s3_get_object) == len(keys)

    second = run([URL], settings, transform=False)
    assert (second.files_new, second.files_skipped, second.exit_code) == (0, len(keys), EXIT_OK)
    assert proxy.count(s3_get_object) == len(keys)  # listed, nothing downloaded

    # a new stream lands, and a copy of an ingested object under another key (same ETag: not downloaded)
    new_key = PREFIX + "task/2099-01-01-[$LATEST]00000000000000000000000000000000/000000.gz"
    s3.put_object(Bucket=BUCKET, Key=new_key, Body=gzip.compress(
        b"2099-01-01T00:00:00.000Z START RequestId: 6f1c0a4e-0000-4000-8000-000000000001 Version: $LATEST\n\n"))
    s3.copy_object(Bucket=BUCKET, Key=PREFIX + "copy/000000.gz", CopySource={"Bucket": BUCKET, "Key": keys[0]})
    third = run([URL], settings, transform=False)
    assert (third.files_new, third.files_skipped, third.files_seen) == (1, len(keys) + 1, len(keys) + 2)
    assert proxy.count(s3_get_object) == len(keys) + 1


def test_a_damaged_object_is_recorded_and_the_run_goes_on(s3, moto_endpoint, tmp_path):
    good = (ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log").read_bytes()
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "task/a-stream/000000.gz", Body=gzip.compress(good))
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "task/b-stream/000000.gz", Body=gzip.compress(good[:4000] + b"x")[:-9])
    settings = settings_for(f"sqlite:///{tmp_path / 'db.sqlite'}", moto_endpoint)
    summary = run([URL], settings, transform=False)
    assert (summary.files_new, summary.files_damaged, summary.exit_code) == (2, 1, EXIT_DAMAGED)
    assert summary.transactions == 10
    with make_engine(settings.database_url).connect() as conn:
        status = conn.execute(text("SELECT status, error FROM ingested_files WHERE path LIKE '%b-stream%'")).one()
        reasons = conn.execute(text("SELECT reason FROM quarantine WHERE event_id IS NULL")).scalars().all()
    assert status[0] == "damaged" and "truncated gzip" in status[1] and any("truncated gzip" in r for r in reasons)


def test_a_zip_object_is_read_member_by_member(export_slice, s3, moto_endpoint, tmp_path):
    files = sorted(p for p in export_slice.rglob("*") if p.is_file())[:5]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in files:
            zf.write(path, path.relative_to(export_slice).as_posix())
        zf.writestr("__MACOSX/._x", b"junk")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "export.zip", Body=archive.read_bytes())
    from_s3, local = f"sqlite:///{tmp_path / 's3.db'}", f"sqlite:///{tmp_path / 'local.db'}"
    summary = run([URL], settings_for(from_s3, moto_endpoint), transform=False)
    run([str(archive)], settings_for(local, moto_endpoint), transform=False)
    assert (summary.files_new, summary.exit_code) == (5, EXIT_OK)
    assert same_files(from_s3, URL) == same_files(local, str(tmp_path) + "/")
    assert run([URL], settings_for(from_s3, moto_endpoint), transform=False).files_skipped == 5


def test_a_missing_bucket_is_one_line_and_exit_2(moto_endpoint, aws_env, tmp_path):
    reset(moto_endpoint)
    result = cli("s3://no-such-bucket/exports/", "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}",
                 env={"AWS_ENDPOINT_URL": moto_endpoint})
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.splitlines() == [
        "ingest.py: error: s3://no-such-bucket/exports/: no such bucket (The specified bucket does not exist)"]
    assert not (tmp_path / "db.sqlite").exists()  # refused before touching the database


def _limited_user(endpoint: str, allowed_keys: list[str]) -> dict:
    """An IAM user that may list the bucket and read only `allowed_keys`; its keys as environment variables."""
    iam = client("iam", endpoint)
    iam.create_user(UserName="reader")
    policy = {"Version": "2012-10-17", "Statement": [
        # AWS checks ListObjectsV2 as s3:ListBucket; moto names the action after the operation
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListObjectsV2"], "Resource": f"arn:aws:s3:::{BUCKET}"},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [f"arn:aws:s3:::{BUCKET}/{key}" for key in allowed_keys]}]}
    iam.put_user_policy(UserName="reader", PolicyName="read-some", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def test_access_denied_ends_the_run_with_exit_5_keeping_what_was_ingested(export_slice, s3, moto_endpoint,
                                                                          tmp_path):
    """moto checks IAM policies when told to (its /moto-api/reset-auth): a user that may read three objects of
    four stores those three, then stops at the fourth."""
    files = sorted(p for p in export_slice.rglob("*") if p.is_file())[:4]
    keys = [f"{PREFIX}task/stream-{n}/000000.gz" for n in range(4)]  # (moto reads '[' in an ARN as a pattern)
    for key, path in zip(keys, files):
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    url = URL
    env = {"AWS_ENDPOINT_URL": moto_endpoint, **_limited_user(moto_endpoint, keys[:3])}
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    iam_checks(moto_endpoint, True)
    try:
        denied = cli(url, "--workers", "1", "--database-url", database, env=env)
        wrong = cli(url, "--database-url", database, env={**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"})
        unknown = cli(url, "--database-url", database, env={**env, "AWS_ACCESS_KEY_ID": "AKIANOBODY0000000000"})
    finally:
        iam_checks(moto_endpoint, False)
    assert denied.returncode == EXIT_DENIED, denied.stderr
    assert denied.stderr.splitlines() == [
        f"ingest.py: error: {url}{keys[3][len(PREFIX):]}: access denied (AccessDenied): the AWS identity in use may "
        "not read it; see the IAM policy in docs/ingest.md; the 3 file(s) ingested before it are kept"]
    for result, code in ((wrong, "SignatureDoesNotMatch"), (unknown, "InvalidAccessKeyId")):
        assert result.returncode == EXIT_DENIED, result.stderr
        assert result.stderr.splitlines() == [
            f"ingest.py: error: {url}: AWS does not accept the credentials in use ({code}); check AWS_PROFILE and "
            "the AWS_* environment variables"]
    with make_engine(database).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingested_files")).scalar_one() == 3
        assert conn.execute(text("SELECT status, exit_code FROM ingest_runs ORDER BY run_id")).all() == [
            ("failed", EXIT_DENIED)]
    again = cli(url, "--database-url", database, env={"AWS_ENDPOINT_URL": moto_endpoint})
    assert again.returncode == EXIT_OK, again.stderr
    with make_engine(database).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingested_files")).scalar_one() == 4


def test_an_expired_token_ends_the_run_with_exit_5(export_slice, s3, proxy, tmp_path):
    keys = upload(s3, export_slice, BUCKET, PREFIX)
    late = set(keys[6:])  # objects are downloaded ahead, in threads: the token expires for all but the first six

    def late_download(method, path, headers):
        return s3_get_object(method, path, headers) and unquote(path.split("?")[0])[len(BUCKET) + 2:] in late
    proxy.rules.append(Rule(late_download, 400, s3_error("ExpiredToken", "The provided token has expired."),
                            times=10_000))
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = cli(URL, "--workers", "1", "--database-url", database, env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.returncode == EXIT_DENIED, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"ingest.py: error: {URL}") and line.endswith(
        ": the AWS credentials have expired (ExpiredToken): renew them (e.g. aws sso login) and ingest again; "
        "the 6 file(s) ingested before it are kept")
    proxy.rules.clear()
    assert cli(URL, "--database-url", database, env={"AWS_ENDPOINT_URL": proxy.url}).returncode == EXIT_OK
    with make_engine(database).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ingested_files")).scalar_one() == len(keys)


def test_throttling_is_retried_with_backoff(export_slice, s3, proxy, tmp_path):
    keys = upload(s3, export_slice, BUCKET, PREFIX)
    slow_down = s3_error("SlowDown", "Please reduce your request rate.")
    proxy.rules += [Rule(s3_list, 503, slow_down, times=2), Rule(s3_get_object, 503, slow_down, times=3)]
    summary = run([URL], settings_for(f"sqlite:///{tmp_path / 'db.sqlite'}", proxy.url), transform=False)
    assert (summary.files_new, summary.exit_code) == (len(keys), EXIT_OK)
    assert dict(proxy.answered) == {0: 2, 1: 3}
    assert proxy.count(s3_get_object) == len(keys) + 3


def test_a_refusal_no_retry_mends_is_not_retried_and_ends_the_run_with_exit_1(export_slice, s3, proxy, tmp_path):
    """A download refused with an error AWS does not mend by waiting is asked for once, and its code and message
    are the run's one line (a 5xx or throttling answer is retried: the test above)."""
    keys = upload(s3, export_slice, BUCKET, PREFIX, count=12)
    proxy.rules.append(Rule(s3_get_object, 400, s3_error("InvalidRequest", "Nothing to retry here."), times=10_000))
    result = cli(URL, "--workers", "1", "--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}",
                 env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.returncode == EXIT_FAILURE, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"ingest.py: error: {URL}") and line.endswith(
        ": AWS error InvalidRequest: Nothing to retry here.")
    downloads = [path for method, path, _ in proxy.requests if s3_get_object(method, path, {})]
    assert 0 < len(downloads) < len(keys) and len(set(downloads)) == len(downloads)  # each asked for once


def test_an_object_replaced_after_the_listing_costs_only_itself(s3, moto_endpoint, tmp_path):
    """The download asks for the listed ETag (If-Match): a replaced object is not read half old, half new."""
    from ingest.prepare import prepared
    from ingest.reader import list_sources
    from ingest.sources.aws import config_of
    from ingest.store import parts
    body = gzip.compress((ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log").read_bytes())
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "task/a-stream/000000.gz", Body=body)
    settings = settings_for(f"sqlite:///{tmp_path / 'db.sqlite'}", moto_endpoint)
    listing = list_sources([URL], config_of(settings))
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "task/a-stream/000000.gz", Body=body + gzip.compress(b"\n"))
    job = (settings["BUSINESS_TZ"], "0.001", settings.max_file_bytes, config_of(settings))
    [[(_, rows, error, _)]] = list(parts(prepared(listing.sources, job)))
    assert rows is None and error == "cannot read: the object changed after it was listed; the next run reads it"


def test_credentials_come_from_a_profile_and_the_endpoint_from_aws_endpoint_url_s3(s3, moto_endpoint, tmp_path):
    """The standard chain: keys in a profile of the shared credentials file (AWS_PROFILE or --aws-profile), none
    in the environment; S3's own endpoint variable. moto checks the keys (IAM emulation), so only the profile's
    pass."""
    body = gzip.compress((ROOT / "tests" / "fixtures" / "logs" / "format_doc_examples.log").read_bytes())
    key = PREFIX + "task/stream/000000.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    keys = _limited_user(moto_endpoint, [key])
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[ingest]\naws_access_key_id = {keys['AWS_ACCESS_KEY_ID']}\n"
                           f"aws_secret_access_key = {keys['AWS_SECRET_ACCESS_KEY']}\n")
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_ENDPOINT_URL_S3=moto_endpoint)
    env.pop("AWS_ENDPOINT_URL", None)
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"

    def ingest(*flags):
        return subprocess.run([sys.executable, str(ROOT / "ingest.py"), "-q", "--no-transform", URL, "--database-url",
                               database, *flags], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    iam_checks(moto_endpoint, True)
    try:
        without = ingest()
        unknown = ingest("--aws-profile", "nobody")
        with_profile = ingest("--aws-profile", "ingest")
    finally:
        iam_checks(moto_endpoint, False)
    assert without.returncode == EXIT_DENIED and without.stderr.splitlines() == [
        f"ingest.py: error: {URL}: no AWS credentials found: set AWS_PROFILE, the standard AWS_* environment "
        "variables, or run where a role is attached"]
    assert unknown.returncode == EXIT_USAGE and unknown.stderr.splitlines() == [
        "ingest.py: error: AWS_PROFILE='nobody': no such profile in the AWS config and credentials files"]
    assert with_profile.returncode == EXIT_OK, with_profile.stderr
    with make_engine(database).connect() as conn:
        assert conn.execute(text("SELECT path FROM ingested_files")).scalar_one() == f"s3://{BUCKET}/{key}"


def test_a_download_that_breaks_off_is_taken_up_where_it_stopped(export_slice, s3, proxy, tmp_path):
    """The connection drops twice in the middle of an object: the rest is asked for with a Range request, and
    the file is the same as read whole."""
    keys = upload(s3, export_slice, BUCKET, PREFIX, count=3)

    def first_object(ranged: bool):
        return lambda method, path, headers: (s3_get_object(method, path, headers) and ("Range" in headers) == ranged
                                              and unquote(path.split("?")[0]).endswith(keys[0]))
    proxy.rules += [Rule(first_object(False), cut=700), Rule(first_object(True), cut=100)]
    from_s3 = f"sqlite:///{tmp_path / 's3.db'}"
    summary = run([URL], settings_for(from_s3, proxy.url), transform=False)
    assert (summary.files_new, summary.files_failed, summary.exit_code) == (3, 0, EXIT_OK), summary.problems
    assert proxy.ranges == ["bytes=700-", "bytes=800-"] and dict(proxy.answered) == {0: 1, 1: 1}
    local = tmp_path / "local"
    for key in keys:
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    at_home = f"sqlite:///{tmp_path / 'local.db'}"
    run([str(local / PREFIX)], settings_for(at_home, proxy.url), transform=False)
    assert same_files(from_s3, URL) == same_files(at_home, f"{local / PREFIX}/")
