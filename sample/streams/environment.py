"""One Lambda execution environment, i.e. one log stream: its cold start and how long it stays warm."""
from __future__ import annotations

import dataclasses
import random

from sample.streams.builds import Build
from sample.text import lines

IDLE_TIMEOUT_MS = (300_000, 600_000)
MAX_LIFETIME_MS = 2 * 3_600_000


@dataclasses.dataclass(slots=True, eq=False)
class Env:
    """One Lambda execution environment, i.e. one log stream."""
    name: str
    created_ms: int
    idle_timeout_ms: int
    memory_used: int
    free_ms: int = 0             # end of its current invocation
    cold: bool = True            # until its first REPORT
    init_ms: float = 0.0
    events: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def expired(self, now_ms: int) -> bool:
        return now_ms - self.free_ms > self.idle_timeout_ms or now_ms - self.created_ms > MAX_LIFETIME_MS


def cold_start(rng: random.Random, day: str, build: Build, ready_ms: int) -> Env:
    """A new environment: its stream is named after `day`, its log starts with INIT_START."""
    env = Env(name=f"{day}-[$LATEST]{rng.getrandbits(128):032x}", created_ms=ready_ms,
              idle_timeout_ms=rng.randint(*IDLE_TIMEOUT_MS), memory_used=rng.randint(92, 112))
    env.init_ms = round(rng.uniform(650, 1330), 2)
    env.events.append((ready_ms, lines.raw_event(ready_ms, lines.init_start_text(build.runtime, build.arn_hash))))
    # START follows INIT_START by the init duration plus ~1.3 ms.
    env.free_ms = ready_ms + round(env.init_ms + rng.uniform(0.4, 3.4))
    return env
