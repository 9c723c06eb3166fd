"""`Ledger`: plans the export day by day, one `DayPlan` per day, from one seeded random generator.

Every part draws from the same `random.Random` in a fixed order, so the same seed
always gives the same plans: change the order of the calls below and the bytes change.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

from sample.draws import random_uuid
from sample.ledger.cases import Cases
from sample.ledger.day import Day
from sample.ledger.faults import Faults
from sample.ledger.injections import Injector
from sample.ledger.markers import Markers
from sample.ledger.nightly import NIGHTLY_AT_MS, Nightly
from sample.ledger.tally import Tally
from sample.ledger.timeline import Timeline
from sample.ledger.traffic import Traffic
from sample.ledger.transaction import Transactions
from sample.ledger.users import Population
from sample.plan import DayPlan
from sample.stats import SampleStats
from sample.text.jsformat import iso_ms


class Ledger:
    """Simulates `users` subscribers over `days` days from `start`, one DayPlan per day.

    With `cases`, the detector cases of sample.ledger.cases are injected too, and `journal` keeps every
    transaction logged (what sample.truth lists the findings from).
    """

    def __init__(self, users: int, days: int, seed: int, start: date, cases: bool = False):
        self.rng = rng = random.Random(seed)
        self.timeline = Timeline(start, days)
        self.export_task = random_uuid(rng)
        self.stats = SampleStats(days=days, users=users, seed=seed, start=start.isoformat(),
                                 export_task=self.export_task, nis_switch_at=iso_ms(self.timeline.nis_switch_ms))
        self.population = Population(rng, users)
        test_user = self.population.test_user
        self.journal: list | None = [] if cases else None
        transactions = Transactions(rng, self.timeline, test_user, self.stats, self.journal)
        self.traffic = Traffic(rng, self.population, transactions)
        self.nightly = Nightly(rng, self.timeline, self.population, transactions)
        faults = Faults(rng, transactions, test_user, self.stats)
        self.cases = Cases(rng, self.timeline, self.population, transactions, self.stats, self.journal) \
            if cases else None
        self.injector = Injector(rng, self.timeline, self.population, self.traffic, faults, users, self.cases)
        self.markers = Markers(rng, test_user.id, self.stats)
        self.tally = Tally(self.stats)

    def plan_days(self) -> Iterator[DayPlan]:
        """Yield one DayPlan per day, in order (the ledger state carries over)."""
        for index in range(self.timeline.days):
            yield self.plan_day(index)
        self.tally.sum_amounts()

    def plan_day(self, index: int) -> DayPlan:
        day = Day(index, self.timeline.day_start_ms(index), self.rng)
        self.traffic.plan(day)
        self.injector.plan(day)
        day.add_at(day.start_ms + NIGHTLY_AT_MS, self.nightly.run)
        day.space_users()
        day.run_intents()
        for name in self.markers.apply(day):
            self.injector.keep_pending(day, name)
        if self.cases:
            for name in self.cases.finish_day(day):
                self.injector.keep_pending(day, name)
        day.messages.sort(key=lambda m: m.at_ms)
        self.tally.count(day.messages)
        return DayPlan(index, self.timeline.date_text(index), day.messages)
