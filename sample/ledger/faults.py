"""The injected transactions: deliberate faults and rare quirks of the real export, each an intent.

Each fault is listed in SampleStats by transaction id:

* continuity break: the balance changes outside the function (half of them to a noisy
  value like `x / 1.1`); the *next* block of that user has oldBalance ≠ previous newBalance.
* ledger break (§8.5): a VAT-bearing legacy block printed with `vat: 0` while the balance
  moved by amount / (1 + rate), rounded to the currency precision.
* unapplied: a block whose newBalance would be negative, followed by the guard object;
  the balance keeps its old value, so that user's next block continues from oldBalance.
* guard only: a nightly deduction refused by the guard, with no sync block at all.
* overdraft: an applied block with newBalance < 0 (no guard).
* negative amount: a DEBIT with a negative amount (the balance goes up).
"""
from __future__ import annotations

import random
from decimal import Decimal

from sample.ledger.amounts import covered, floor, gross, typical_amount, vat_included
from sample.ledger.day import Day
from sample.ledger.transaction import Transactions
from sample.ledger.users import User
from sample.plan import GUARDED, PUBLISHED
from sample.stats import SampleStats


class Faults:
    """One method per injected kind, called as an intent `(day, at_ms, user, *args)`."""

    def __init__(self, rng: random.Random, transactions: Transactions, test_user: User, stats: SampleStats):
        self.rng, self.transactions, self.test_user, self.stats = rng, transactions, test_user, stats

    def prepare_guard(self, day: Day, at_ms: int, user: User) -> None:
        """A large manual deduction leaves less than one delivery: tonight's deduction hits the guard."""
        user.guard_pending = True
        price = float(user.price)
        if user.balance >= price:
            leftover = Decimal(self.rng.randrange(1, max(2, int(price * 2)))) / 2
            amount = floor(user.balance - float(leftover), user.cur)
            self.transactions.sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", self.rng.choice((
                "INVAILID_ENTRY", "DOUBLE_ENTRY", "FIXING_BALANCE")), amount, Decimal(0))

    def overdraw(self, day: Day, at_ms: int, user: User, applied: bool) -> None:
        """A manual deduction larger than the balance: guarded (not applied) or, rarely, applied."""
        extra = user.price * self.rng.randint(1, 6)
        amount = covered(user) + extra
        action = self.rng.choice(("INVAILID_ENTRY", "DOUBLE_ENTRY"))
        tx = self.transactions.sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", action, amount, Decimal(0),
                                    outcome=PUBLISHED if applied else GUARDED)
        if applied:
            self.stats.overdraft_tx_ids.append(tx.id)

    def external_change(self, day: Day, at_ms: int, user: User) -> None:
        """The balance changes outside the function (not logged): the user's next block breaks continuity."""
        if self.rng.random() < 0.5 and user.cur.places == 3:
            # Such edits left values like 225.90753636363627 in the real export, in BHD only (in a 2-decimal
            # currency the next block's rounded newBalance would break the ledger identity by up to 0.005).
            user.balance = float(int(user.balance * 1.1) + self.rng.randint(1, 9)) / 1.1
        else:
            steps = (-2, -1, 1, 2, 3) if user.balance > 3 * float(user.price) else (1, 2, 3)
            user.balance += float(user.price * self.rng.choice(steps))
        user.break_pending = True

    def ledger_break(self, day: Day, at_ms: int, user: User) -> None:
        """§8.5: VAT applied but logged as 0 (legacy schema), the balance moves by amount / (1 + rate)."""
        cur = user.cur
        if self.rng.random() < 0.5:
            amount, kind, action, source = typical_amount(self.rng, user, (10, 11, 20, 270)), "CREDIT", \
                "PAY_PENDING_AMOUNT", "PAYMENT"
        else:
            amount, kind, action, source = min(user.price, covered(user)), "DEBIT", "PARTIAL_REFUND", "REFUND"
        tx = self.transactions.sync(day, at_ms, user, kind, source, action, amount, Decimal(0), legacy=True,
                                    moved_by=(amount / (1 + cur.vat_rate)))
        self.stats.ledger_break_tx_ids.append(tx.id)

    def negative_amount(self, day: Day, at_ms: int, user: User) -> None:
        amount = -self.rng.choice((Decimal("1.5"), Decimal("0.5"), Decimal(1), user.price / 2)).quantize(
            user.cur.quantum)
        tx = self.transactions.sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION", amount,
                                    Decimal(0))
        self.stats.negative_amount_tx_ids.append(tx.id)

    def addon_gift(self, day: Day, at_ms: int, user: User) -> None:
        """A gift add-on whose metadata util.inspect quotes with backticks (sample.streams.metadata)."""
        amount, vat = gross(user.cur, user.cur.scale * 35)
        self.transactions.sync(day, at_ms, user, "CREDIT", "PAYMENT", "ADD_DELIVERY_ADDONS", amount, vat,
                               metadata="backtick", legacy=False)

    def refund_undefined(self, day: Day, at_ms: int, user: User) -> None:
        """A full-schema refund whose metadata prints as bare `undefined`."""
        amount, vat = vat_included(user.cur, min(user.price, covered(user)))
        self.transactions.sync(day, at_ms, user, "DEBIT", "REFUND", self.rng.choice((
            "LEAVING_THE_COUNTRY", "FOREIGN_OBJECT")), amount, vat, metadata="undefined", legacy=False)

    def test_user_tx(self, day: Day, at_ms: int, _user) -> None:
        """The test user 'random-uuid': every amount and balance is zero."""
        self.transactions.sync(day, at_ms, self.test_user, "CREDIT", "MANUAL_ADDITION", "CUSTOMERS_CALO_EXPERIMENTS",
                               Decimal(0), Decimal(0), legacy=False)
