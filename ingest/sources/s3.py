"""An S3 prefix as sources: the objects a CloudWatch Logs export task wrote (or any gzip, text or zip objects).

`list_objects` lists the prefix (ListObjectsV2, 1,000 keys a request) into `Source`s in the order the same files
in a local folder are read (ingest/reader.py), with each object's size and ETag; junk is skipped alike.
`open_object` streams one object for the reader: a GetObject with If-Match on the listed ETag (an object replaced
since the listing fails alone, and the next run reads it), resumed with a Range request where it stopped when the
connection drops. A `.zip` object is read through ranged requests: its list of members when it is listed, each
member when it is read; its members are sources like those of a local zip.
"""
from __future__ import annotations

import contextlib
import errno
import io
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

from errors import InputError
from ingest.reader import JUNK_DIRS, Listing, Skipped, Source, is_junk
from ingest.sources import S3_SCHEME
from ingest.sources.aws import AwsConfig, client, error_code, stop

RESUMES = 3  # times a dropped download is taken up again where it stopped
BUFFER = 256 << 10  # bytes asked for at once while reading a zip archive by ranges
CHANGED = frozenset({"PreconditionFailed", "412"})
GONE = frozenset({"NoSuchKey", "404"})


def parse_url(url: str) -> tuple[str, str]:
    """s3://BUCKET/PREFIX -> (bucket, prefix); the prefix may be empty."""
    rest = url[len(S3_SCHEME):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InputError(f"{url}: no bucket in the URL; write it like s3://BUCKET/PREFIX/")
    return bucket, prefix


def url_of(bucket: str, key: str) -> str:
    return f"{S3_SCHEME}{bucket}/{key}"


def list_objects(url: str, config: AwsConfig) -> Listing:
    """Every object below the URL, as sources in reading order. A prefix that does not end with '/' is taken as
    a folder or a single object: `s3://b/logs` lists `logs` and `logs/…`, never `logs2/…`."""
    bucket, prefix = parse_url(url)
    s3 = client("s3", config)
    keys = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                key = item["Key"]
                if prefix and not prefix.endswith("/") and key != prefix and not key.startswith(prefix + "/"):
                    continue
                if not key.endswith("/") and not _junk(key):
                    keys.append((key, item["Size"], item.get("ETag")))
    except Exception as exc:
        raise stop(exc, url) or exc from None
    listing = Listing([], [])
    for key, size, etag in sorted(keys, key=lambda k: _reading_order(k[0])):
        if key.lower().endswith(".zip"):
            for one in _members(s3, bucket, key, size, etag):
                (listing.skipped if isinstance(one, Skipped) else listing.sources).append(one)
        else:
            listing.sources.append(Source(url_of(bucket, key), None, size, None, etag))
    return listing


def _junk(key: str) -> bool:
    parts = key.split("/")
    return is_junk(parts[-1]) or any(p in JUNK_DIRS or p.startswith(".") for p in parts[:-1])


def _reading_order(key: str) -> tuple:
    """The order ingest/reader.py walks a folder in: a folder's files, then its folders, each sorted by name."""
    parts = key.split("/")
    return tuple((1, p) for p in parts[:-1]) + ((0, parts[-1]),)


def _members(s3, bucket: str, key: str, size: int, etag: str | None) -> Iterator[Source | Skipped]:
    url = url_of(bucket, key)
    try:
        with _archive(s3, bucket, key, size, etag) as zf:
            entries = sorted(zf.infolist(), key=lambda i: i.filename)
    except OSError as exc:  # deleted or replaced since listed
        yield Skipped(url, f"cannot read the zip archive's list of members: {exc.strerror}", not_regular=False)
        return
    except zipfile.BadZipFile as exc:
        yield Skipped(url, f"cannot read the zip archive's list of members: {exc}", not_regular=False)
        return
    for entry in entries:
        parts = PurePosixPath(entry.filename).parts
        if entry.is_dir() or not parts or is_junk(parts[-1]) or JUNK_DIRS & set(parts):
            continue
        yield Source(url, entry.filename, entry.file_size, None, etag)


@contextlib.contextmanager
def _archive(s3, bucket: str, key: str, size: int, etag: str | None) -> Iterator[zipfile.ZipFile]:
    raw = io.BufferedReader(ObjectReader(s3, bucket, key, size, etag), BUFFER)
    with raw, zipfile.ZipFile(raw) as zf:
        yield zf


@contextlib.contextmanager
def open_object(source: Source, config: AwsConfig) -> Iterator[io.BufferedIOBase]:
    """The bytes of an S3 source (an object, or a member of a zip object), as a stream."""
    bucket, key = parse_url(str(source.path))
    s3 = client("s3", config)
    if source.member is None:
        with ObjectReader(s3, bucket, key, source.file_size, source.etag) as fh:  # read in order: no buffer
            yield fh
        return
    with _archive(s3, bucket, key, None, source.etag) as zf, zf.open(source.member) as fh:
        yield fh


class ObjectReader(io.RawIOBase):
    """An S3 object as a seekable file: one streaming GetObject from the current position, started again with a
    Range request after a seek or when the connection drops (at most RESUMES times in a row)."""

    def __init__(self, s3, bucket: str, key: str, size: int | None, etag: str | None):
        super().__init__()
        self.s3, self.bucket, self.key, self.size, self.etag = s3, bucket, key, size, etag
        self.pos, self.body = 0, None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END and self.size is None:
            self.size = self._call(self.s3.head_object)["ContentLength"]
        target = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size or 0}[whence] + offset
        if target != self.pos:
            self._drop()
            self.pos = max(0, target)
        return self.pos

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left with -1), read from the response as they come: no buffer of
        `size` bytes is made when less is left (the reader asks for a megabyte at a time; objects are small)."""
        left = None if self.size is None else self.size - self.pos
        if left is not None and left <= 0:
            return b""
        if size is None or size < 0 or left is not None and size >= left:
            size = left  # (None: to the end)
        from botocore.exceptions import (ConnectionClosedError, IncompleteReadError, ReadTimeoutError,
                                         ResponseStreamingError)
        for attempt in range(RESUMES + 1):
            if self.body is None:
                self.body = self._get()
            try:
                data = self.body.read(size)
                break
            except (ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionClosedError):
                self._drop()
                if attempt == RESUMES:
                    raise OSError(errno.EIO, f"the download broke off {RESUMES + 1} times at byte {self.pos}")
        self.pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _get(self):
        return self._call(self.s3.get_object, **({"Range": f"bytes={self.pos}-"} if self.pos else {}))["Body"]

    def _call(self, method, **more):
        """GetObject or HeadObject of this object as listed (If-Match its ETag); an object replaced or deleted
        since is an OSError (it costs this object), AWS refusing is the error that ends the run."""
        where = url_of(self.bucket, self.key)
        args = {"Bucket": self.bucket, "Key": self.key, **more}
        if self.etag:
            args["IfMatch"] = self.etag
        try:
            return method(**args)
        except Exception as exc:
            code = error_code(exc)
            if code in CHANGED:
                raise OSError(errno.ESTALE, "the object changed after it was listed; the next run reads it") from None
            if code in GONE:
                raise OSError(errno.ENOENT, "the object was deleted after it was listed") from None
            raise stop(exc, where) or exc from None

    def _drop(self) -> None:
        if self.body is not None:
            self.body.close()
            self.body = None

    def close(self) -> None:
        self._drop()
        super().close()
