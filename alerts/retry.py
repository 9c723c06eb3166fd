"""Retries with exponential backoff and a cap on the total time spent waiting."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Backoff:
    attempts: int = 4  # tries per run; what still fails waits for the next run
    first_delay: float = 1.0  # seconds before the second try, doubled each time
    max_total_delay: float = 15.0  # never wait longer than this in one run, whatever `attempts` says

    def delays(self):
        """The waits between tries: 1, 2, 4 … seconds, cut so their sum stays within max_total_delay."""
        total, delay = 0.0, self.first_delay
        for _ in range(self.attempts - 1):
            if total + delay > self.max_total_delay:
                return
            yield delay
            total += delay
            delay *= 2


def call_with_retries(fn: Callable[[], None], backoff: Backoff, retry_on: type[BaseException],
                      sleep: Callable[[float], None] = time.sleep,
                      on_failure: Callable[[int, BaseException], None] | None = None,
                      ) -> tuple[int, BaseException | None]:
    """Call fn until it returns; (tries, None) on success, (tries, last error) when every try failed."""
    delays = iter(backoff.delays())
    tries = 0
    while True:
        tries += 1
        try:
            fn()
            return tries, None
        except retry_on as exc:
            if on_failure:
                on_failure(tries, exc)
            delay = next(delays, None)
            if delay is None:
                return tries, exc
            sleep(delay)
