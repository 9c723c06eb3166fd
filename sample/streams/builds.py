"""Which build of the function ran on a day: its runtime, memory size and minified stack names."""
from __future__ import annotations

import dataclasses

# Runtime in use by creation day (first day, runtime, hash of its ARN), as in the real export.
RUNTIMES = (
    ("0000-00-00", "nodejs:14.v42", "4cb686be08f980f530c1cbdeae970951c08b712057b80e8698cf4641214607d6"),
    ("2023-12-28", "nodejs:20.v13", "6fb7e564fae3347add879359ec92013de1e84ce02488f36ec21448277c28707c"),
    ("2024-01-14", "nodejs:20.v14", "d4c968f0a85420c036d732975b0317307799fc7152619b3c4fb289f5d8e34f8a"),
    ("2024-02-01", "nodejs:20.v15", "379cd8c4d157c2e16f1b841486b613da2188da597609ef24d67497ad9c22a53e"),
    ("2024-02-25", "nodejs:20.v16", "e06356b9cc317b394b345659ca7fe94e5360e45227db179a224757608b8effe6"),
    ("2024-03-07", "nodejs:20.v18", "2250774f98acc3954111984e0b9853cb801265eb866d3bef345707fcfb7af67c"),
    ("2024-03-17", "nodejs:20.v19", "2d68d583b872accb8815f845161e9bbabc6ac3ed4d0ab8c23e75f8788cf5444a"),
    ("2024-04-15", "nodejs:20.v20", "e510d001332c5ac4354ceb185ddd6ef3def14993da7ab2533668b6a6a1ee661d"),
    ("2024-04-18", "nodejs:20.v22", "da57c20c4b965d5b75540f6865a35fc8030358e33ec44ecfed33e90901a27a72"),
)
SMALL_MEMORY = ("2023-12-28", "2024-01-09")   # the function ran with 512 MB on these days
# Minified names in the stack of "An error occured while syncing the balance", per build.
ERROR_NAMES = (("0000-00-00", ("Zi", "rF", "X0")), ("2024-04-20", ("Zi", "JU", "K0")),
               ("2024-05-08", ("es", "JU", "mA")))


@dataclasses.dataclass(frozen=True)
class Build:
    runtime: str
    arn_hash: str
    memory_mb: int
    error_names: tuple[str, str, str]


def build_of(day: str) -> Build:
    """The build that ran on `day` (YYYY-MM-DD)."""
    runtime, arn_hash = _by_date(RUNTIMES, day)
    memory_mb = 512 if SMALL_MEMORY[0] <= day <= SMALL_MEMORY[1] else 1024
    return Build(runtime, arn_hash, memory_mb, _by_date(ERROR_NAMES, day)[0])


def _by_date(table, day: str):
    chosen = table[0][1:]
    for row in table:
        if row[0] <= day:
            chosen = row[1:]
    return chosen
