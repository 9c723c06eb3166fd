"""`write_day`: runs one day's messages through execution environments and writes each one's stream.

SQS batches of 1–10 messages → one invocation each. The nightly batch is drained by a
few environments started together (more when there are more messages); the daytime
traffic reuses a warm environment when one is idle, else cold-starts one.
"""
from __future__ import annotations

import heapq
import math
import random
from datetime import date

from sample.draws import weighted
from sample.plan import INVOKE_ERROR, DayPlan, Message
from sample.streams.builds import build_of
from sample.streams.environment import Env, cold_start
from sample.streams.files import DayResult, Options, write_stream
from sample.streams.invocation import Invocations

NIGHT_BATCH_SIZES = ((1, 62), (2, 5), (3, 4.5), (4, 3), (5, 2.7), (6, 1.7), (7, 1), (8, 1), (9, 0.9), (10, 10.5))
NIGHT_MESSAGES_PER_ENV = 70    # the real nightly batch of ~150 messages ran on two environments
DAY_BATCH_WINDOW_MS = 200      # daytime messages arriving this close together share a batch
MAX_BATCH = 10


def write_day(plan: DayPlan, options: Options) -> DayResult:
    """Log and write every stream of one day; return what was written."""
    return _DayWriter(plan, options).run()


class _DayWriter:
    def __init__(self, plan: DayPlan, options: Options):
        self.plan, self.options = plan, options
        self.rng = random.Random(f"{options.seed}:{plan.index}")
        self.twin_rng = random.Random(f"{options.seed}:{plan.index}:twins")
        self.build = build_of(plan.date)
        self.result = DayResult(plan.index, logged_ms={} if options.truth else None)
        self.invocations = Invocations(self.rng, self.build, date.fromisoformat(plan.date), self.result.logged_ms)
        self.warm: list[Env] = []

    def run(self) -> DayResult:
        night = [m for m in self.plan.messages if m.night]
        batches = self._day_batches([m for m in self.plan.messages if not m.night])
        night_at = min((m.at_ms for m in night), default=None)
        before = [b for b in batches if night_at is None or b[0].at_ms < night_at]
        for batch in before:
            self._daytime(batch)
        if night:
            self._nightly(night)
        for batch in batches[len(before):]:
            self._daytime(batch)
        for env in self.warm:
            self._write(env)
        return self.result

    def _day_batches(self, messages: list[Message]) -> list[list[Message]]:
        """Group daytime messages that arrive together (an invocation failure stays alone)."""
        batches: list[list[Message]] = []
        for m in messages:
            last = batches[-1] if batches else None
            if (last and m.kind != INVOKE_ERROR and last[0].kind != INVOKE_ERROR and len(last) < MAX_BATCH
                    and m.at_ms - last[0].at_ms <= DAY_BATCH_WINDOW_MS):
                last.append(m)
            else:
                batches.append([m])
        return batches

    def _daytime(self, batch: list[Message]) -> None:
        ready = batch[0].at_ms + self.rng.randint(20, 300)
        self._retire(ready)
        idle = [env for env in self.warm if env.free_ms + 5 <= ready]
        if idle:
            env = self.rng.choice(idle)
            start = max(ready, env.free_ms + self.rng.randint(5, 30))
        else:
            env = self._cold_start(ready)
            start = env.free_ms
        self._invoke(env, start, batch)

    def _nightly(self, night: list[Message]) -> None:
        """Drain the nightly queue with a few environments started together."""
        queue = sorted(night, key=lambda m: m.at_ms)
        first_at = queue[0].at_ms
        self._retire(first_at)
        count = max(2, math.ceil(len(queue) / NIGHT_MESSAGES_PER_ENV)) if len(queue) > 1 else 1
        envs = [self._cold_start(first_at + self.rng.randint(0, 3000)) for _ in range(count)]
        heap = [(env.free_ms, i, env) for i, env in enumerate(envs)]
        heapq.heapify(heap)
        position = 0
        while position < len(queue):
            free_ms, i, env = heapq.heappop(heap)
            size = 1 if env.cold else weighted(self.rng, NIGHT_BATCH_SIZES)
            batch = queue[position:position + size]
            position += len(batch)
            start = max(free_ms + (0 if env.cold else self.rng.randint(20, 400)), batch[-1].at_ms)
            self._invoke(env, start, batch)
            heapq.heappush(heap, (env.free_ms, i, env))

    def _cold_start(self, ready_ms: int) -> Env:
        env = cold_start(self.rng, self.plan.date, self.build, ready_ms)
        self.warm.append(env)
        return env

    def _invoke(self, env: Env, start_ms: int, batch: list[Message]) -> None:
        self.invocations.invoke(env, start_ms, batch)
        self.result.invocations += 1

    def _retire(self, now_ms: int) -> None:
        """Write environments that went idle for good: memory stays flat over a day."""
        keep = []
        for env in self.warm:
            if env.expired(now_ms):
                self._write(env)
            else:
                keep.append(env)
        self.warm = keep

    def _write(self, env: Env) -> None:
        write_stream(env, self.options, self.rng, self.twin_rng, self.result)
