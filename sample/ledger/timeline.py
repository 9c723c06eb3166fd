"""The export's days: when each starts, which log schema it uses, and which meaning not-in-sync ERRORs have."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

MS_PER_DAY = 86_400_000

# Until the nightly batch of 2024-01-08 the not-in-sync ERROR printed the balance *before*
# the transaction as subscriptionBalance, from then on the balance *after* it (§8.6).
NIS_MEANING_SWITCH = datetime(2024, 1, 8, 21, 0, tzinfo=timezone.utc)
NIS_MEANING_SWITCH_MS = int(NIS_MEANING_SWITCH.timestamp() * 1000)


class Timeline:
    """`days` days from `start`: the legacy schema first, then an overlap, then the full schema only."""

    def __init__(self, start: date, days: int):
        self.start, self.days = start, days
        self.start_ms = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp() * 1000)
        self.full_start = min(days, max(1, round(days * 0.05)))          # first day of the full schema
        self.legacy_end = self.full_start + min(7, max(1, round(days * 0.045)))  # first day without legacy
        # The old meaning of subscriptionBalance only when the range spans the change (else the new one).
        end_ms = self.start_ms + days * MS_PER_DAY
        self.nis_switch_ms = NIS_MEANING_SWITCH_MS if self.start_ms < NIS_MEANING_SWITCH_MS < end_ms \
            else self.start_ms

    def day_start_ms(self, index: int) -> int:
        return self.start_ms + index * MS_PER_DAY

    def date_text(self, index: int) -> str:
        """YYYY-MM-DD of day `index` (UTC)."""
        return (self.start + timedelta(days=index)).isoformat()

    def windows(self) -> dict[str, range]:
        """Day indexes by schema: "all", "legacy" (legacy blocks are logged), "full" (the full schema)."""
        return {"all": range(self.days), "legacy": range(min(self.days, self.legacy_end)),
                "full": range(self.full_start, self.days)}

    def legacy_today(self, index: int, rng: random.Random) -> bool:
        """Legacy only before the full schema starts, then fading out over the overlap."""
        if index < self.full_start:
            return True
        if index >= self.legacy_end:
            return False
        share = (self.legacy_end - index) / (self.legacy_end - self.full_start + 1)
        return rng.random() < share
