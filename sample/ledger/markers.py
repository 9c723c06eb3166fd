"""Injected kinds that mark a block the day already logged: a transaction lock, a failed first attempt, or
the rarer "already synced" wording."""
from __future__ import annotations

import random

from sample.ledger.day import Day
from sample.plan import ALREADY, ALREADY2, PUBLISHED, SYNC, SYNC_ERROR, Message
from sample.stats import SampleStats

REDELIVERY_MS = (88_000, 90_200)  # SQS visibility timeout seen in the export


class Markers:
    """Applies a day's markers (`apply`) once its messages are logged."""

    def __init__(self, rng: random.Random, test_user_id: str, stats: SampleStats):
        self.rng, self.test_user_id, self.stats = rng, test_user_id, stats

    def apply(self, day: Day) -> list[str]:
        """Mark some of the day's completed daytime blocks; each block gets one marker at most.

        Returns the markers that found no block, to be retried another day.
        """
        unplaced: list[str] = []
        if not day.markers:
            return unplaced
        candidates = [m for m in day.messages if m.kind == SYNC and not m.night
                      and m.tx.outcome in (PUBLISHED, ALREADY) and m.at_ms >= day.start_ms + 600_000
                      and m.tx.user_id != self.test_user_id]
        for name in day.markers:
            wanted = (lambda m: m.tx.legacy) if name == "already2" else (lambda m: m.tx.outcome == PUBLISHED)
            message = self._pick(candidates, wanted)
            if message is None and name == "already2":   # small samples: a nightly legacy block will do
                message = self._pick([m for m in day.messages if m.night and m.kind == SYNC], wanted)
            if message is None:
                unplaced.append(name)
            else:
                getattr(self, f"_mark_{name}")(day, message)
        return unplaced

    def _pick(self, candidates: list[Message], wanted) -> Message | None:
        """Remove and return a random candidate that is `wanted`."""
        fitting = [i for i, m in enumerate(candidates) if wanted(m)]
        if not fitting:
            return None
        return candidates.pop(self.rng.choice(fitting))

    def _mark_lock(self, day: Day, message: Message) -> None:
        message.tx.lock = True

    def _mark_already2(self, day: Day, message: Message) -> None:
        tx = message.tx
        tx.outcome, tx.nis, tx.nis_metric = ALREADY2, None, False

    def _mark_sync_error(self, day: Day, message: Message) -> None:
        """A message fails once (rarely twice) and SQS redelivers it ~90 s later; the last attempt succeeds."""
        at_ms = message.at_ms
        for _ in range(2 if self.rng.random() < 0.1 else 1):
            at_ms -= self.rng.randint(*REDELIVERY_MS)
            day.messages.append(Message(at_ms, message.message_id, SYNC_ERROR))
        self.stats.redelivered_message_ids.append(message.message_id)
