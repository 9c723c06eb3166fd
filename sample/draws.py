"""Random draws shared by the ledger and the stream writer, always from the caller's seeded generator."""
from __future__ import annotations

import math
import random

from sample.text.ids import ulid_text, uuid_text


def weighted(rng: random.Random, table):
    """One value of a table of (value, weight) rows."""
    values, weights = zip(*table)
    return rng.choices(values, weights)[0]


def poisson(rng: random.Random, mean: float) -> int:
    """Poisson sample (normal approximation for large means, which is plenty here)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID."""
    return uuid_text(rng.getrandbits(128))


def random_ulid(rng: random.Random, created_ms: int) -> str:
    """A ULID created at `created_ms`."""
    return ulid_text(created_ms, rng.getrandbits(80))
