"""The macOS junk files of `--junk` (.DS_Store, __MACOSX/, ._*), as a zip made on macOS leaves them."""
from __future__ import annotations

import os
import random
from pathlib import Path

from sample.streams import DayResult, Options

JUNK_P = 0.05                        # share of stream folders that get macOS junk with --junk
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02" + bytes(4070)
DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(6140)


def write_root_junk(options: Options) -> int:
    """`.DS_Store` at the top and in the export-task folder, as a zip made on macOS leaves them."""
    for folder in (options.out_dir, os.path.join(options.out_dir, options.export_task)):
        os.makedirs(folder, exist_ok=True)
        Path(folder, ".DS_Store").write_bytes(DS_STORE)
    return 2


def write_stream_junk(options: Options, result: DayResult, rng: random.Random) -> int:
    """`__MACOSX/…/._000000.gz` for some streams, `._000000.gz` and `.DS_Store` inside a few.

    Day 0's first stream always gets all three, so that any --junk sample has each kind.
    """
    written = 0
    for i, name in enumerate(result.stream_names):
        first = result.index == 0 and i == 0
        if first or rng.random() < JUNK_P:
            shadow = Path(options.out_dir, "__MACOSX", options.export_task, name)
            shadow.mkdir(parents=True, exist_ok=True)
            (shadow / "._000000.gz").write_bytes(APPLE_DOUBLE)
            written += 1
        if first or rng.random() < JUNK_P / 2:
            folder = Path(options.out_dir, options.export_task, name)
            (folder / "._000000.gz").write_bytes(APPLE_DOUBLE)
            (folder / ".DS_Store").write_bytes(DS_STORE)
            written += 2
    return written
