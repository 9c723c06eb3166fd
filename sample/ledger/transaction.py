"""One sync block: its printed numbers, its effect on the user's balance, and the message that carries it."""
from __future__ import annotations

import random
from decimal import Decimal

from sample.draws import random_ulid, random_uuid
from sample.ledger.amounts import new_balance, rounded
from sample.ledger.day import Day
from sample.ledger.timeline import Timeline
from sample.ledger.users import User, drift_offset
from sample.plan import ALREADY, GUARDED, PUBLISHED, SYNC, Message, Tx
from sample.stats import SampleStats
from sample.text.jsformat import js_number

LEGACY_ALREADY_P = 0.27        # legacy blocks followed by "balance is already synced"
NIS_METRIC_P = 0.25            # early not-in-sync ERRORs followed by a subBalanceDiscrapancy metric


class Transactions:
    """Logs sync blocks for the ledger (`sync`), from its random generator."""

    def __init__(self, rng: random.Random, timeline: Timeline, test_user: User, stats: SampleStats,
                 journal: list | None = None):
        self.rng, self.timeline, self.test_user, self.stats = rng, timeline, test_user, stats
        self.texts: dict[Decimal, str] = {}                       # printed form of each amount seen
        self.journal = journal                                    # with --truth: every Tx logged, in ledger order

    def sync(self, day: Day, at_ms: int, user: User, kind: str, source: str, action: str,
             amount: Decimal, vat: Decimal, *, night: bool = False, metadata: str = "json",
             outcome: str | None = None, legacy: bool | None = None, moved_by: Decimal | None = None,
             currency: str | None = None) -> Tx:
        """Log one sync block for `user` and apply it to the balance (unless guarded).

        `currency` prints another code than the user's (the balance and its rounding stay the user's).
        """
        if legacy is None:
            legacy = self.timeline.legacy_today(day.index, self.rng)
        if outcome is None:
            outcome = ALREADY if legacy and self.rng.random() < LEGACY_ALREADY_P else PUBLISHED
        if user is not self.test_user:
            drift_offset(self.rng, user)
        old = user.balance
        raw = day.index == 0
        new = new_balance(old, kind, amount, vat, moved_by, user.cur, raw)
        if outcome != GUARDED:
            user.balance = new_balance(old, kind, amount, vat, moved_by, user.cur, True) \
                if user.unrounded and moved_by is None else new
        payment = new
        if user.offset:
            payment = new + user.offset if raw else rounded(new + user.offset, user.cur)
        created_ms = at_ms - self.rng.randint(50, 3000)
        tx = Tx(random_ulid(self.rng, created_ms), legacy, kind, source, action, user.id, currency or user.cur.code,
                self._text(amount), self._text(vat), old, new, payment, metadata, created_ms, outcome)
        if user.offset and outcome != GUARDED:
            before_switch = at_ms < self.timeline.nis_switch_ms
            tx.nis = (old if before_switch else new, payment)
            tx.nis_metric = day.index < self.timeline.full_start and self.rng.random() < NIS_METRIC_P
        if user.break_pending:
            user.break_pending = False
            self.stats.continuity_break_tx_ids.append(tx.id)
        user.logged = True
        day.messages.append(Message(at_ms, random_uuid(self.rng), SYNC, night=night, tx=tx))
        if self.journal is not None:
            self.journal.append(tx)
        return tx

    def _text(self, amount: Decimal) -> str:
        text = self.texts.get(amount)
        if text is None:
            text = self.texts[amount] = js_number(amount)
        return text
