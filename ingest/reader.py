"""Find export files and turn each into decoded text, whatever its wrapping.

A *source* is one readable object: a plain or gzip file, or one member of a
.zip archive. Gzip is recognised by its magic bytes, never by its name.
macOS junk is skipped silently. Damage (a truncated or corrupt gzip, bytes
that are not UTF-8) never stops the read: what could be read is returned with
a note of what was lost.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})
JUNK_DIRS = frozenset({"__MACOSX"})
_CHUNK = 1 << 20


@dataclasses.dataclass
class Source:
    """One object to ingest: `path` on disk, plus `member` inside a zip; `root` is the folder ingest was given."""
    path: Path
    member: str | None = None
    file_size: int | None = None
    mtime_ns: int | None = None
    root: Path | None = None

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def relative_path(self) -> str:
        """The path below `root` ('stream/000000.gz'; the file's name when ingest was given the file itself)."""
        if self.root is None or self.root == self.path:
            return self.path.name
        return self.path.relative_to(self.root).as_posix()

    @property
    def stream_name(self) -> str:
        """The CloudWatch stream folder the object sits in (the export names folders after streams)."""
        parts = Path(self.member).parts if self.member else self.path.parts
        return parts[-2] if len(parts) >= 2 else parts[-1]


@dataclasses.dataclass
class Decoded:
    text: str
    size_bytes: int  # decoded (decompressed) bytes
    content_hash: str
    format: str  # text | gzip
    damage: str | None = None  # what was lost, for the file record
    replaced_chars: int = 0


def is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.startswith("._")


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in JUNK_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if not is_junk(name):
                yield Path(dirpath) / name


def find_sources(paths: list[str | os.PathLike]) -> Iterator[Source]:
    """Every source below the given paths, in a stable order. Raises InputError for a missing path."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; pass the folder of a CloudWatch export "
                             "(or set LOG_DIR)")
    for raw in paths:
        path = Path(raw)
        for file in ([path] if path.is_file() else _walk(path)):
            yield from _sources_of(file, path)


def _sources_of(file: Path, root: Path) -> Iterator[Source]:
    try:
        # three system calls on a descriptor, not Path.stat() and a buffered open(): every run lists every
        # file (1,672 in the real export) before it knows which are new
        fd = os.open(file, os.O_RDONLY)
        try:
            stat, magic = os.fstat(fd), os.read(fd, 4)
        finally:
            os.close(fd)
    except OSError:
        yield Source(file, root=root)  # reading it again will report the error against the file
        return
    if magic == ZIP_MAGIC and zipfile.is_zipfile(file):
        with zipfile.ZipFile(file) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                parts = Path(info.filename).parts
                if info.is_dir() or not parts or is_junk(parts[-1]) or JUNK_DIRS & set(parts):
                    continue
                yield Source(file, info.filename, info.file_size, stat.st_mtime_ns, root)
        return
    yield Source(file, None, stat.st_size, stat.st_mtime_ns, root)


def read_bytes(source: Source) -> bytes:
    if source.member is None:
        return source.path.read_bytes()
    with zipfile.ZipFile(source.path) as zf:
        return zf.read(source.member)


def gunzip(data: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; on damage return what was readable and a description."""
    out = []
    while data:
        decomp = zlib.decompressobj(wbits=31)
        try:
            out.append(decomp.decompress(data))
        except zlib.error as exc:
            produced = sum(map(len, out))
            return b"".join(out), f"corrupt gzip data after {produced} decompressed bytes ({exc})"
        if not decomp.eof:
            produced = sum(map(len, out))
            return b"".join(out), f"truncated gzip: the stream ends after {produced} decompressed bytes"
        data = decomp.unused_data.lstrip(b"\x00")  # tolerate zero padding between members
        if data and not data.startswith(GZIP_MAGIC):
            return b"".join(out), f"{len(data)} bytes of non-gzip data after the gzip stream were ignored"
    return b"".join(out), None


def decode(raw: bytes) -> Decoded:
    """Bytes of a source -> text: gunzip if gzip, UTF-8 with replacement, CRLF folded to LF."""
    fmt, damage = "text", None
    if raw.startswith(GZIP_MAGIC):
        fmt = "gzip"
        raw, damage = gunzip(raw)
    digest = hashlib.sha256(raw).hexdigest()
    replaced = 0
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        replaced = text.count("\ufffd") - raw.count("\ufffd".encode())
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return Decoded(text, len(raw), digest, fmt, damage, replaced)
