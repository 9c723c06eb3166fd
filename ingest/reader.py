"""Find export files and turn each into decoded text, whatever its wrapping.

A *source* is one readable object: a plain or gzip file, or one member of a
.zip archive; an object in S3 (ingest/sources/s3.py) or a log stream's events
read through the CloudWatch Logs API (ingest/sources/logs.py) are sources as
well, read by the same code. Gzip is recognised by its magic bytes, never by its name.
macOS junk is skipped silently; anything that is not a regular file (a FIFO,
a socket, a device) is skipped without being opened, and said so. Damage (a
truncated or corrupt gzip, bytes that are not UTF-8, a file longer than
MAX_FILE_MB) never stops the read: what could be read is returned with a note
of what was lost. A source is read as a stream, never more than the limit of
it, so memory stays bounded whatever it expands to.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})
JUNK_DIRS = frozenset({"__MACOSX"})
_CHUNK = 1 << 20
MB = 1 << 20  # MAX_FILE_MB counts these


@dataclasses.dataclass
class Source:
    """One object to ingest: `path` on disk, plus `member` inside a zip; or an S3 object (`path` s3://bucket/key,
    with its `etag`); or content already in memory (`data`: a log stream's events read through the API, with
    the `stream` they come from and the `checkpoint` written with them, ingest/sources/checkpoints.py). `root`
    is the folder ingest was given (files named below it)."""
    path: Path | str
    member: str | None = None
    file_size: int | None = None
    mtime_ns: int | None = None
    etag: str | None = None
    data: bytes | None = None
    stream: str | None = None
    checkpoint: object = None
    root: Path | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def relative_path(self) -> str:
        """The path below `root` ('stream/000000.gz'; the file's name when ingest was given the file itself); an
        S3 object's key; a log group read as its location."""
        if isinstance(self.path, str):
            return self.path.split("/", 3)[3] if self.in_s3 and self.path.count("/") >= 3 else self.path
        if self.root is None or self.root == self.path:
            return self.path.name
        return self.path.relative_to(self.root).as_posix()

    @property
    def in_s3(self) -> bool:
        return isinstance(self.path, str) and self.path.startswith("s3://")

    @property
    def stream_name(self) -> str:
        """The CloudWatch stream folder the object sits in (the export names folders after streams)."""
        if self.stream is not None:
            return self.stream
        parts = Path(self.member).parts if self.member else Path(self.path).parts
        return parts[-2] if len(parts) >= 2 else parts[-1]


@dataclasses.dataclass
class Decoded:
    text: str
    size_bytes: int  # decoded (decompressed) bytes
    content_hash: str
    format: str  # text | gzip
    damage: str | None = None  # what was lost, for the file record
    replaced_chars: int = 0
    kept: bytes = b""  # the bytes decoded, gzip-compressed: what file_texts keeps (ingest/texts.py)


@dataclasses.dataclass
class Skipped:
    """Something below the given paths that is not read: not a regular file (reading a FIFO would wait for
    ever), or a zip archive whose list of members cannot be read."""
    path: str
    problem: str  # for the summary
    not_regular: bool = True  # else a file that failed


def _not_regular(path: Path | str, what: str) -> Skipped:
    return Skipped(str(path), f"{what}, not a regular file: skipped without opening it")


@dataclasses.dataclass
class Listing:
    sources: list[Source]
    skipped: list[Skipped]


def is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.startswith("._")


def _what(path: Path) -> str | None:
    """None for a regular file (or one that cannot be looked at: reading it says why), else what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return what
    return "not a regular file"


def _walk(root: Path) -> Iterator[Path | Skipped]:
    """The files below `root` as os.walk lists them (a folder's files, then its folders, sorted by name;
    links to folders are not followed); anything else that is not a folder as Skipped."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Skipped(str(root), f"a folder that cannot be listed: {exc.strerror}", not_regular=False)
        return
    folders = []
    for entry in entries:
        if entry.is_dir():  # (follows links, as os.walk does; a link to a folder is then not entered)
            if not entry.is_symlink() and entry.name not in JUNK_DIRS and not entry.name.startswith("."):
                folders.append(entry)
        elif is_junk(entry.name):
            continue
        elif entry.is_file():  # the type from the folder listing: no system call for a plain file
            yield Path(entry.path)
        else:
            what = _what(Path(entry.path))
            yield _not_regular(entry.path, what) if what else Path(entry.path)  # a broken link: reading says why
    for entry in folders:
        yield from _walk(Path(entry.path))


def list_sources(paths: list[str | os.PathLike], aws=None) -> Listing:
    """Every source below the given paths (folders, files, s3:// URLs), in a stable order, and what was skipped
    without being opened. Raises InputError for a missing path or bucket. `aws`: the AwsConfig of S3 clients."""
    for raw in paths:
        if str(raw).startswith("s3://"):
            continue
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; pass the folder of a CloudWatch export "
                             "(or set LOG_DIR)")
    listing = Listing([], [])
    for raw in paths:
        if str(raw).startswith("s3://"):
            from ingest.sources import s3
            found_s3 = s3.list_objects(str(raw), aws or s3.AwsConfig())
            listing.sources += found_s3.sources
            listing.skipped += found_s3.skipped
            continue
        path = Path(raw)
        if path.is_dir():
            found = _walk(path)
        else:
            what = _what(path)
            found = [_not_regular(path, what)] if what else [path]
        for item in found:
            for one in (_sources_of(item, path) if isinstance(item, Path) else [item]):
                (listing.skipped if isinstance(one, Skipped) else listing.sources).append(one)
    return listing


def find_sources(paths: list[str | os.PathLike]) -> Iterator[Source]:
    """The sources of list_sources(), without what was skipped."""
    yield from list_sources(paths).sources


def _sources_of(file: Path, root: Path) -> Iterator[Source | Skipped]:
    try:
        # three system calls on a descriptor, not Path.stat() and a buffered open(): every run lists every
        # file (1,672 in the real export) before it knows which are new. O_NONBLOCK: should a FIFO take the
        # file's place after the listing, opening it returns at once instead of waiting for a writer.
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            magic = os.read(fd, 4) if stat.S_ISREG(info.st_mode) else b""
        finally:
            os.close(fd)
    except OSError:
        yield Source(file, root=root)  # reading it again will report the error against the file
        return
    if not stat.S_ISREG(info.st_mode):
        yield _not_regular(file, _what(file) or "something else")
        return
    if magic == ZIP_MAGIC and zipfile.is_zipfile(file):
        try:
            with zipfile.ZipFile(file) as zf:
                entries = sorted(zf.infolist(), key=lambda i: i.filename)
        except Exception as exc:  # zipfile.BadZipFile, or worse: this file fails, not the run
            yield Skipped(str(file), f"cannot read the zip archive's list of members: {exc}", not_regular=False)
            return
        for entry in entries:
            parts = Path(entry.filename).parts
            if entry.is_dir() or not parts or is_junk(parts[-1]) or JUNK_DIRS & set(parts):
                continue
            yield Source(file, entry.filename, entry.file_size, info.st_mtime_ns, root=root)
        return
    yield Source(file, None, info.st_size, info.st_mtime_ns, root=root)


def read_source(source: Source, limit: int, aws=None) -> Decoded:
    """The decoded text of a source, read as a stream: at most `limit` bytes of it (decompressed); a longer
    source is cut at its last line break within the limit and the rest left unread (recorded as damage).
    `aws`: the AwsConfig of the S3 client that reads an object in S3."""
    read: list[bytes] = []  # a gzip source's own bytes, as they are read
    with _open(source, aws) as fh:
        head = fh.read(len(GZIP_MAGIC))
        if head == GZIP_MAGIC:
            raw, damage = _gunzip(fh, head, limit, read)
            fmt = "gzip"
        else:
            raw, damage, fmt = head + fh.read(limit + 1 - len(head)), None, "text"
    if len(raw) > limit:
        raw, damage = _cut(raw, limit), _too_long(limit)
    decoded = decode(raw, fmt, damage)
    # A gzip source read whole is kept as it is; anything else (plain text, a zip member, damaged or cut gzip)
    # is compressed here, so that what is kept expands to exactly the bytes decoded.
    decoded.kept = b"".join(read) if fmt == "gzip" and damage is None else compress(raw)
    return decoded


def compress(raw: bytes | bytearray) -> bytes:
    """gzip at its default level, with no time in the header: the same bytes always give the same result."""
    return gzip.compress(raw, compresslevel=6, mtime=0)


def expand(kept: bytes) -> bytearray:
    """What `Decoded.kept` holds, decompressed (every gzip member, zero padding between members skipped)."""
    out, damage = _gunzip(io.BytesIO(kept), b"", len(kept) * 1032 + _CHUNK)  # (deflate expands at most 1032-fold)
    if damage is not None:
        raise ValueError(f"the kept text does not decompress: {damage}")
    return out


@contextlib.contextmanager
def _open(source: Source, aws=None) -> Iterator[BinaryIO]:
    if source.data is not None:
        yield io.BytesIO(source.data)
    elif source.in_s3:
        from ingest.sources import s3
        with s3.open_object(source, aws or s3.AwsConfig()) as fh:
            yield fh
    elif source.member is None:
        with open(source.path, "rb") as fh:
            yield fh
    else:
        with zipfile.ZipFile(source.path) as zf, zf.open(source.member) as fh:  # decompressed as it is read
            yield fh


def _too_long(limit: int) -> str:
    return (f"longer than MAX_FILE_MB={limit / MB:g} of text: read up to the last line break within it, "
            "the rest was not read")


def _cut(raw: bytes | bytearray, limit: int) -> bytes | bytearray:
    """The first `limit` bytes, ending at a line break when there is one (no half line is kept)."""
    end = raw.rfind(b"\n", 0, limit) + 1
    if isinstance(raw, bytearray):
        del raw[end or limit:]  # in place: no second copy of a long text
        return raw
    return raw[:end or limit]


def _gunzip(fh, head: bytes, limit: int, read: list[bytes] | None = None) -> tuple[bytearray, str | None]:
    """Decompress every gzip member, at most limit + 1 bytes (one more says it was longer); on damage return
    what was readable and a description. Memory: the output, and one chunk of input (and `read`, when given:
    every chunk of input, in order, `head` first)."""
    out = bytearray()
    decomp = zlib.decompressobj(wbits=31)
    pending = head
    if read is not None:
        fh = _Recorded(fh, read)
        read.append(head)
    while True:
        if not pending:
            pending = fh.read(_CHUNK)
            if not pending:
                return out, f"truncated gzip: the stream ends after {len(out)} decompressed bytes"
        try:
            # max_length: a small input that expands enormously (a gzip bomb) stops at the limit
            out += decomp.decompress(pending, limit + 1 - len(out))
        except zlib.error as exc:
            return out, f"corrupt gzip data after {len(out)} decompressed bytes ({exc})"
        if len(out) > limit:
            return out, None
        pending = decomp.unconsumed_tail
        if decomp.eof:
            rest = _after_member(decomp.unused_data, fh)
            if not rest:
                return out, None
            if not rest.startswith(GZIP_MAGIC):
                ignored = len(rest) + sum(map(len, iter(lambda: fh.read(_CHUNK), b"")))
                return out, f"{ignored} bytes of non-gzip data after the gzip stream were ignored"
            decomp, pending = zlib.decompressobj(wbits=31), rest  # the next member


class _Recorded:
    """A file whose reads are also appended to a list."""

    def __init__(self, fh, read: list[bytes]):
        self.fh, self.read_chunks = fh, read

    def read(self, size: int) -> bytes:
        chunk = self.fh.read(size)
        self.read_chunks.append(chunk)
        return chunk


def _after_member(rest: bytes, fh) -> bytes:
    """What follows a gzip member, zero padding between members skipped; empty at the end of the input."""
    rest = rest.lstrip(b"\x00")
    while len(rest) < len(GZIP_MAGIC):
        more = fh.read(_CHUNK)
        if not more:
            return rest
        rest = (rest + more).lstrip(b"\x00")
    return rest


def decode(raw: bytes | bytearray, fmt: str = "text", damage: str | None = None) -> Decoded:
    """Bytes of a source -> text: UTF-8 with replacement, NUL replaced too (PostgreSQL cannot store it), CRLF
    folded to LF."""
    digest = hashlib.sha256(raw).hexdigest()
    replaced = 0
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        replaced = text.count("\ufffd") - raw.count("\ufffd".encode())
    if "\x00" in text:
        replaced += text.count("\x00")
        text = text.replace("\x00", "\ufffd")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return Decoded(text, len(raw), digest, fmt, damage, replaced)
