"""One day being planned: what is meant to happen (intents), when each message arrives, and what was logged.

An intent is `(at_ms, seq, user, fn, args)`; the ledger runs them in time order as
`fn(day, at_ms, user, *args)`, and each appends the `Message`s it logs to the day.
"""
from __future__ import annotations

import dataclasses
import random
from collections import defaultdict

from sample.plan import Message

BURST_P = 0.4                  # daytime messages arriving shortly after the previous one
BURST_MEAN_MS = 30_000
# Daytime arrivals per UTC hour, from the real export (hour 21 without its nightly batch).
HOUR_WEIGHTS = (125, 35, 17, 18, 41, 25, 94, 109, 154, 178, 237, 248, 262, 189, 238, 156, 140, 103, 91, 96,
                38, 40, 40, 52)
HOURS = tuple(range(24))
# Daytime messages avoid the nightly batch and the first seconds of a day, so that a
# user's messages are always logged in the order the ledger applied them.
QUIET_WINDOWS_MS = ((0, 30_000), ((20 * 60 + 58) * 60_000, (21 * 60 + 6) * 60_000))
USER_GAP_MS = 10_000           # minimum spacing of one user's daytime messages


@dataclasses.dataclass
class Day:
    """Working state while one day is planned."""
    index: int
    start_ms: int
    rng: random.Random
    intents: list = dataclasses.field(default_factory=list)   # (at_ms, seq, user, fn, args)
    messages: list[Message] = dataclasses.field(default_factory=list)
    markers: list[str] = dataclasses.field(default_factory=list)
    anchor_ms: int | None = None   # last daytime arrival (offset in the day), for bursts
    spans: dict = dataclasses.field(default_factory=dict)     # seq -> offsets of an intent's messages (add_span)

    def add(self, user, fn, *args, before_night: bool = False) -> None:
        """Intend `fn` for `user` at a random daytime arrival."""
        self.intents.append((self.daytime_ms(before_night), len(self.intents), user, fn, args))

    def add_span(self, user, offsets: tuple[int, ...], fn, *args) -> None:
        """Intend `fn`, which logs one message for `user` at each of `offsets` ms after its start, during the day.

        The span starts and ends before the nightly batch, so that no nightly block of the user falls inside it.
        """
        seq = len(self.intents)
        self.spans[seq] = offsets
        self.intents.append((self.span_start_ms(offsets), seq, user, fn, args))

    def span_start_ms(self, offsets: tuple[int, ...]) -> int:
        while True:
            at_ms = self.daytime_ms(before_night=True)
            if at_ms + max(offsets) < self.start_ms + QUIET_WINDOWS_MS[1][0]:
                return at_ms

    def add_at(self, at_ms: int, fn) -> None:
        """Intend `fn` at `at_ms`, before any daytime intent of the same millisecond."""
        self.intents.append((at_ms, -1, None, fn, ()))

    def daytime_ms(self, before_night: bool = False) -> int:
        """A random arrival time during the day, shaped like the real daytime traffic.

        Daytime traffic comes in bursts (an operator fixing several wallets, a user
        paying then adding items), which is why real environments often serve a few
        invocations a second or a minute apart.
        """
        rng = self.rng
        while True:
            if self.anchor_ms is not None and rng.random() < BURST_P:
                offset = self.anchor_ms + int(rng.expovariate(1 / BURST_MEAN_MS))
            else:
                offset = rng.choices(HOURS, HOUR_WEIGHTS)[0] * 3_600_000 + rng.randrange(3_600_000)
            if offset >= 86_400_000 or (before_night and offset >= QUIET_WINDOWS_MS[1][0]):
                continue
            if not any(lo <= offset < hi for lo, hi in QUIET_WINDOWS_MS):
                self.anchor_ms = offset
                return self.start_ms + offset

    def space_users(self) -> None:
        """Keep each user's daytime messages USER_GAP_MS apart, so that log order is ledger order.

        A clashing message gets a fresh random time (pushing it later could run into the
        nightly batch or the next day).
        """
        taken: dict[str, list[int]] = defaultdict(list)
        for i, (at_ms, seq, user, fn, args) in enumerate(self.intents):
            if user is None:
                continue
            times = taken[user.id]
            offsets = self.spans.get(seq, (0,))
            for _ in range(50):
                if all(abs(at_ms + o - t) >= USER_GAP_MS for o in offsets for t in times):
                    break
                at_ms = self.span_start_ms(offsets) if seq in self.spans else self.daytime_ms()
            self.intents[i] = (at_ms, seq, user, fn, args)
            times.extend(at_ms + o for o in offsets)

    def run_intents(self) -> None:
        """Carry out every intent in time order (the ledger state changes as it goes)."""
        for at_ms, _seq, user, fn, args in sorted(self.intents, key=lambda i: (i[0], i[1])):
            fn(self, at_ms, user, *args)
