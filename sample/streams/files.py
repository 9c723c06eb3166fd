"""Writing one log stream's `000000.gz`: events in chunks, some out of time order (§3.4), gzip as the export
does, and sometimes a decompressed twin."""
from __future__ import annotations

import dataclasses
import os
import random
import zlib

from sample.draws import weighted
from sample.streams.environment import Env

CHUNKS = ((1, 67), (2, 24), (3, 6), (4, 2), (5, 1))   # runs of ascending timestamps per real file
CHUNK_BYTES = 400_000           # big files get more chunks
OBJECT_NAME = "000000.gz"
TWIN_P = 0.1


@dataclasses.dataclass
class Options:
    out_dir: str
    export_task: str
    seed: int
    twins: bool = False
    compresslevel: int = 6
    truth: bool = False        # keep when each transaction is logged (DayResult.logged_ms)


@dataclasses.dataclass
class DayResult:
    index: int
    streams: int = 0
    events: int = 0
    invocations: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0
    out_of_order_files: int = 0
    twin_files: int = 0
    stream_names: list[str] = dataclasses.field(default_factory=list)
    logged_ms: dict[str, int] | None = None   # with Options.truth: transaction id -> time its block was logged


def write_stream(env: Env, options: Options, rng: random.Random, twin_rng: random.Random,
                 result: DayResult) -> None:
    """Write `env`'s events as its stream folder's files and count them in `result`."""
    events = env.events   # already in time order: an env runs one thing at a time
    chunks = shuffled_chunks(events, rng, result)
    data = "".join(chunks).encode("utf-8")
    folder = os.path.join(options.out_dir, options.export_task, env.name)
    os.makedirs(folder, exist_ok=True)
    packed = gzip_bytes(data, options.compresslevel)
    with open(os.path.join(folder, OBJECT_NAME), "wb") as f:
        f.write(packed)
    if options.twins and twin_rng.random() < TWIN_P:
        with open(os.path.join(folder, OBJECT_NAME[:-3]), "wb") as f:
            f.write(data)
        result.twin_files += 1
    result.streams += 1
    result.events += len(env.events)
    result.bytes_uncompressed += len(data)
    result.bytes_compressed += len(packed)
    result.stream_names.append(env.name)
    env.events = []


def shuffled_chunks(events: list[tuple[int, str]], rng: random.Random, result: DayResult) -> list[str]:
    """Split the events into chunks and put some chunks out of time order, like the export does.

    Chunks are only cut where the timestamp changes: events of the same millisecond
    stay in their order, so a stable sort by timestamp restores the true order.
    """
    size = sum(len(text) for _, text in events)
    cut_points = [i for i in range(1, len(events)) if events[i][0] > events[i - 1][0]]
    count = min(len(cut_points) + 1, weighted(rng, CHUNKS) + size // CHUNK_BYTES)
    if count < 2:
        return [text for _, text in events]
    cuts = [0] + sorted(rng.sample(cut_points, count - 1)) + [len(events)]
    chunks = ["".join(text for _, text in events[a:b]) for a, b in zip(cuts, cuts[1:])]
    order = list(range(count))
    while order == sorted(order):
        rng.shuffle(order)
    result.out_of_order_files += 1
    return [chunks[i] for i in order]


def gzip_bytes(data: bytes, level: int) -> bytes:
    """Single-member gzip like the export's: no name, mtime 0, XFL 0, OS 255 (header 1f 8b 08 00 …)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
    return header + body + trailer
