"""Timestamps: ISO text -> epoch milliseconds -> business date.

Conversions are cached per minute / per hour because a corpus has millions of
events but only thousands of distinct hours.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from functools import lru_cache

_HOUR_MS = 3_600_000
_ASCII_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}").fullmatch


@lru_cache(maxsize=4096)  # minutes: a file spans a few; bounded memory whatever the corpus
def _minute_ms(prefix: str) -> int:
    """'2024-02-13T21:01' -> epoch ms of that minute (UTC); ValueError for no such minute."""
    if _ASCII_MINUTE(prefix):  # always, from an export; datetime() checks the ranges as strptime does
        dt = datetime(int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10]), int(prefix[11:13]), int(prefix[14:16]),
                      tzinfo=timezone.utc)
    else:  # whatever else strptime accepts or refuses (other digits, other shapes)
        dt = datetime.strptime(prefix, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1000


def ts_to_ms(ts: str) -> int:
    """'2024-02-13T21:01:05.050Z' -> 1707858065050."""
    return _minute_ms(ts[:16]) + int(ts[17:19]) * 1000 + int(ts[20:23])


def business_day(tz: tzinfo):
    """A function epoch-ms -> 'YYYY-MM-DD' in the business time zone (exact at hour granularity,
    which holds for every real zone: offsets are whole or half hours, and we cache per UTC hour only
    when the offset has no minutes)."""
    probe = datetime(2024, 1, 1, tzinfo=timezone.utc).astimezone(tz).utcoffset()
    whole_hours = probe is not None and probe.total_seconds() % 3600 == 0

    @lru_cache(maxsize=65536)
    def by_hour(hour: int) -> str:
        return datetime.fromtimestamp(hour * 3600, tz=timezone.utc).astimezone(tz).strftime("%Y-%m-%d")

    def day(ms: int) -> str:
        if whole_hours:
            return by_hour(ms // _HOUR_MS)
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(tz).strftime("%Y-%m-%d")

    return day


def now_iso() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
