"""The nightly batch at 21:01 UTC: one delivery deduction per subscriber, or the end of their subscription."""
from __future__ import annotations

import random
from decimal import Decimal

from sample.draws import random_ulid, random_uuid
from sample.ledger.day import Day
from sample.ledger.timeline import Timeline
from sample.ledger.transaction import Transactions
from sample.ledger.users import Population, User
from sample.plan import GUARD, Message

NIGHTLY_AT_MS = (21 * 3600 + 60) * 1000      # the nightly batch lands at 21:01:00 UTC
NIGHTLY_SPREAD_MS = 3000
DELIVERY_P = 0.88              # a subscriber gets a delivery (and a deduction) on most nights
METRIC_ONLY_ACTIONS = ("ALLERGIC_CONDITIONS", "BUG", "CALO_BUSINESS", "PERSONAL_PREFERENCE")


class Nightly:
    """Runs each night's batch (`run`, an intent at NIGHTLY_AT_MS)."""

    def __init__(self, rng: random.Random, timeline: Timeline, population: Population, transactions: Transactions):
        self.rng, self.timeline, self.population, self.transactions = rng, timeline, population, transactions
        self.guards_seen = 0

    def run(self, day: Day, at_ms: int, _user) -> None:
        """One deduction per subscriber whose balance covers a delivery."""
        for user in list(self.population.subscribed.items):
            arrive = at_ms + self.rng.randrange(NIGHTLY_SPREAD_MS)
            if user.balance < float(user.price):
                self.population.end_subscription(user)
                if user.guard_pending:
                    self._guard_message(day, arrive, user)
            elif self.rng.random() < DELIVERY_P:
                self.transactions.sync(day, arrive, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION",
                                       user.price, Decimal(0), night=True)

    def _guard_message(self, day: Day, at_ms: int, user: User) -> None:
        """The negative-balance guard refuses the deduction: no sync block, only the guard object."""
        user.guard_pending = False
        tx_id = random_ulid(self.rng, at_ms - self.rng.randint(200, 1500))
        early = day.index < self.timeline.full_start
        metric = None
        if early or self.guards_seen == 0 or self.rng.random() < 0.5:
            metric = self.rng.choice(METRIC_ONLY_ACTIONS) if self.rng.random() < 0.3 else "DELIVERY_DEDUCTION"
        self.guards_seen += 1
        day.messages.append(Message(at_ms, random_uuid(self.rng), GUARD, night=True,
                                    guard=(user.id, tx_id, user.balance), metric_action=metric))
