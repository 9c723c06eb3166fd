"""Detector cases (`--truth` only): a case of every detector and discrepancy kind the everyday traffic and the
faults of faults.py do not make, and near misses that must not fire.

Each case is an intent, scheduled like the faults (injections.py) from `CASES`; `book` keeps the cases that
are listed by what was injected (the other kinds are listed by their definition, in sample.truth). Without
`--truth` none of this runs, and the export is byte for byte what it was.

Cases that fire:
* amount_spike: a delivery deduction of 4-8 times the user's daily price, for a user with at least 8.
* vat_mismatch (wrong_vat): a payment whose VAT is 0 or at half the rate (the balance moves by amount - vat).
* unknown_action: a manual addition with an action that resembles no known one, or a malformed one.
* rapid_deduction: a daytime delivery deduction charged twice, 20 s to 4 min apart.
* burst: two add-on payments of one user in the same SQS batch.
* multi_currency: a manual addition printed in another currency (the balance carries on).
* calculation: a block whose newBalance moved by twice the amount (the balance follows the printed value).
* untied_error: a not-in-sync ERROR in a message without a sync block.
* duplicate_transaction: a message redelivered ~90 s later whose block differs (its metadata).
* error_day: a crash loop (invoke errors) on one day; many wallets falling out of sync at once (listed for
  each business day on which at least five of them are first seen out of sync, ERROR_DAY_MIN_COUNT's default:
  most that night, the few without a delivery that night later).

Near misses (listed with expect "none"):
* amount_spike: a renewal of several days among eight small add-on payments of the same day; a partial
  refund of about twice the user's daily deduction.
* rapid_deduction: the same deduction again 6 to 30 minutes later.
* off_hours_manual: a manual addition just inside business hours (08:00-08:10, 17:45-17:59 business time).
* duplicate_transaction: a message redelivered ~90 s later whose block is identical.
"""
from __future__ import annotations

import dataclasses
import random
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

from sample.currencies import CURRENCIES
from sample.draws import random_uuid
from sample.ledger.amounts import covered, gross, typical_amount
from sample.ledger.day import Day
from sample.ledger.timeline import Timeline
from sample.ledger.transaction import Transactions
from sample.ledger.users import TEST_USER_ID, Population, User, offset_value
from sample.plan import INVOKE_ERROR, PUBLISHED, SYNC, UNTIED_NIS, Message, Tx
from sample.stats import SampleStats

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BUSINESS_OFFSET_MS = 3 * HOUR_MS   # business time +03:00 (BUSINESS_TZ's default)
WEEKEND = (4, 5)                   # Friday, Saturday (date.weekday())
UNKNOWN_ACTIONS = ("LOYALTY_POINTS_BONUS", "manual fix")   # unknown; malformed
REDELIVERY_MS = (88_000, 90_200)   # the SQS visibility timeout (as sample.ledger.markers)
COPY_CLEAR_MS = 120_000            # a copied block's user has no other message this close to it
SPIKE_MIN_DEDUCTIONS = 8           # AMOUNT_SPIKE_MIN_SAMPLES's default
RAPID_WINDOW_MS = 300_000          # RAPID_DEDUCTION_SECONDS's default

# (count per expected message, minimum count, days allowed), as injections.INJECTIONS. "late": from day 10, when
# subscribers have eight deductions; "middle": the middle third, with ordinary days on both sides.
CASES = {
    "amount_spike": (1.0e-3, 4, "late"),
    "partial_refund": (5.0e-4, 3, "late"),
    "renewal_among_addons": (3.0e-4, 3, "all"),
    "wrong_vat": (5.0e-4, 3, "full"),
    "odd_action": (3.0e-4, 2, "full"),
    "double_charge": (5.0e-4, 3, "full"),
    "equal_deductions_apart": (5.0e-4, 3, "full"),
    "burst": (5.0e-4, 3, "all"),
    "in_hours_manual": (5.0e-4, 3, "full"),
    "second_currency": (3.0e-4, 2, "all"),
    "wrong_balance": (5.0e-4, 3, "full"),
    "untied_error": (3.0e-4, 2, "all"),
    "conflicting_copy": (5.0e-4, 3, "all"),
    "identical_copy": (5.0e-4, 3, "all"),
    "crash_loop": (0.0, 1, "middle"),
    "wallet_incident": (0.0, 1, "middle"),
}
COPIES = ("conflicting_copy", "identical_copy")   # applied to the day's messages once the ledger ran


@dataclasses.dataclass
class Case:
    """One listed case: `tx` (or `user_id` and `at_ms` for a case without a transaction)."""
    kind: str
    expect: str                    # "finding" or "none"
    note: str
    tx: Tx | None = None
    user_id: str | None = None
    at_ms: int | None = None
    detail: str = ""
    users: tuple[str, ...] = ()    # error_day discrepancies: the users whose wallets fell out of sync


class Cases:
    """The case handlers, called as intents `(day, at_ms, user, *args)`; `book` lists what they injected."""

    def __init__(self, rng: random.Random, timeline: Timeline, population: Population, transactions: Transactions,
                 stats: SampleStats, journal: list[Tx]):
        self.rng, self.timeline, self.population, self.transactions, self.stats = \
            rng, timeline, population, transactions, stats
        self.journal, self._read = journal, 0
        self.deductions: Counter = Counter()   # full-schema delivery deductions per user id, up to now
        self.book: list[Case] = []
        self.copies: list[str] = []            # copy cases due today
        self.busy: set[str] = set()            # transaction ids of cases (no copy of them)
        self.odd_actions = 0

    def windows(self) -> dict[str, range]:
        days = self.timeline.days
        third = days // 3
        return {"late": range(min(days, 10), days), "middle": range(third, max(third + 1, days - third))}

    # --- scheduling ---------------------------------------------------------------------------------

    def inject(self, day: Day, name: str) -> bool:
        """Add the case `name` to the day; False when no user fits today (it is retried tomorrow)."""
        if name in COPIES:
            self.copies.append(name)
            return True
        if name == "crash_loop":
            day.add_at(day.start_ms + 6 * HOUR_MS, self.crash_loop)
            return True
        if name == "wallet_incident":
            day.add_at(day.start_ms + 20 * HOUR_MS + 40 * 60_000, self.wallet_incident)
            return True
        if name == "in_hours_manual" and self._weekday(day.start_ms + 12 * HOUR_MS) in WEEKEND:
            return False
        user = self._user(name)
        if user is None:
            return False
        rng = self.rng
        if name == "amount_spike":
            # after the nightly batch, like the deductions posted late in the real export
            self._add_at(day, day.start_ms + 21 * HOUR_MS + rng.randrange(10 * 60_000, 50 * 60_000), user,
                         self.amount_spike)
        elif name == "renewal_among_addons":
            for _ in range(SPIKE_MIN_DEDUCTIONS):
                day.add(user, self.addon)
            day.add(user, self.renewal)
        elif name in ("double_charge", "equal_deductions_apart"):
            gap = rng.randrange(20_000, 240_000) if name == "double_charge" else rng.randrange(360_000, 1_800_000)
            day.add_span(user, (0, gap), self.charge_twice, gap)
        elif name == "burst":
            day.add_span(user, (0, 0), self.burst)
        elif name == "in_hours_manual":
            edge = (rng.randrange(30_000, 10 * 60_000) if rng.random() < 0.5
                    else 10 * HOUR_MS - rng.randrange(60_000, 15 * 60_000))
            self._add_at(day, day.start_ms + 8 * HOUR_MS - BUSINESS_OFFSET_MS + edge, user, self.in_hours_manual)
        else:
            day.add(user, getattr(self, name))
        return True

    def _add_at(self, day: Day, at_ms: int, user: User, fn) -> None:
        """An intent of `user` at `at_ms` (moved to another time only if it clashes with the user's others)."""
        day.intents.append((at_ms, len(day.intents), user, fn, ()))

    def _user(self, name: str) -> User | None:
        self._count_deductions()

        def fits(u: User) -> bool:
            price = float(u.price)
            if u.guard_pending or u.balance < 3 * price or not u.logged:
                return False
            if name in ("amount_spike", "partial_refund"):
                return self.deductions[u.id] >= SPIKE_MIN_DEDUCTIONS and u.balance >= 9 * price
            if name == "wrong_vat":
                return u.cur.vat_rate > 0
            return True
        return self.population.sample(self.population.subscribed, fits)

    def _count_deductions(self) -> None:
        for tx in self.journal[self._read:]:
            if tx.action == "DELIVERY_DEDUCTION" and not tx.legacy:
                self.deductions[tx.user_id] += 1
        self._read = len(self.journal)

    def _weekday(self, utc_ms: int) -> int:
        """Weekday (Monday 0) in business time."""
        return ((utc_ms + BUSINESS_OFFSET_MS) // DAY_MS + 3) % 7   # 1970-01-01 was a Thursday

    def _note(self, kind: str, expect: str, note: str, tx: Tx) -> None:
        self.book.append(Case(kind, expect, note, tx=tx))
        self.busy.add(tx.id)

    # --- the cases ------------------------------------------------------------------------------------

    def amount_spike(self, day: Day, at_ms: int, user: User) -> None:
        times = self.rng.choice((4, 5, 6, 8))
        times = min(times, int(user.balance / float(user.price)) - 1)
        if times < 4:
            return
        tx = self.transactions.sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION",
                                    user.price * times, Decimal(0), legacy=False)
        self._note("amount_spike", "finding", f"a delivery deduction of {times} times the user's price", tx)

    def partial_refund(self, day: Day, at_ms: int, user: User) -> None:
        amount, vat = gross(user.cur, user.price * 2)
        if amount > covered(user):
            return
        tx = self.transactions.sync(day, at_ms, user, "DEBIT", "REFUND", "PARTIAL_REFUND", amount, vat,
                                    legacy=False)
        self._note("amount_spike", "none", "a partial refund of about twice the user's daily deduction", tx)

    def addon(self, day: Day, at_ms: int, user: User) -> None:
        amount, vat = gross(user.cur, typical_amount(self.rng, user, (1.2, 2.5, 3)))
        self.transactions.sync(day, at_ms, user, "CREDIT", "PAYMENT", "ADD_DELIVERY_ADDONS", amount, vat,
                               legacy=False)

    def renewal(self, day: Day, at_ms: int, user: User) -> None:
        deliveries = self.rng.choice((5, 10, 20, 24))
        amount, vat = gross(user.cur, user.price * deliveries)
        tx = self.transactions.sync(day, at_ms, user, "CREDIT", "PAYMENT", "RENEW_SUBSCRIPTION", amount, vat,
                                    legacy=False)
        self._note("amount_spike", "none", f"a renewal of {deliveries} days among eight small add-on payments", tx)

    def wrong_vat(self, day: Day, at_ms: int, user: User) -> None:
        cur = user.cur
        amount, _ = gross(cur, typical_amount(self.rng, user, (5, 10, 20)))
        vat = Decimal(0)
        if self.rng.random() < 0.5:
            half = cur.vat_rate / 2
            vat = (amount * half / (1 + half)).quantize(cur.quantum, ROUND_HALF_UP)
        tx = self.transactions.sync(day, at_ms, user, "CREDIT", "PAYMENT", "PAY_PENDING_AMOUNT", amount, vat,
                                    legacy=False)
        self._note("vat_mismatch", "finding", "VAT of 0" if not vat else "VAT at half the rate", tx)

    def odd_action(self, day: Day, at_ms: int, user: User) -> None:
        action = UNKNOWN_ACTIONS[self.odd_actions % len(UNKNOWN_ACTIONS)]
        self.odd_actions += 1
        self.transactions.sync(day, at_ms, user, "CREDIT", "MANUAL_ADDITION", action,
                               typical_amount(self.rng, user, (5, 10)), Decimal(0), legacy=False)

    def charge_twice(self, day: Day, at_ms: int, user: User, gap_ms: int) -> None:
        """The same deduction twice: a double charge (rapid_deduction) or, beyond its window, a near miss."""
        sync = self.transactions.sync
        sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION", user.price, Decimal(0),
             legacy=False)
        again = sync(day, at_ms + gap_ms, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION", user.price,
                     Decimal(0), legacy=False)
        if gap_ms > RAPID_WINDOW_MS:
            self._note("rapid_deduction", "none", f"the same deduction again {gap_ms // 1000} s later", again)
        self.busy.add(again.id)

    def burst(self, day: Day, at_ms: int, user: User) -> None:
        for _ in range(2):
            self.addon(day, at_ms, user)

    def in_hours_manual(self, day: Day, at_ms: int, user: User) -> None:
        tx = self.transactions.sync(day, at_ms, user, "CREDIT", "MANUAL_ADDITION", "COMPENSATION", user.price,
                                    Decimal(0), legacy=False)
        self._note("off_hours_manual", "none", "a manual addition just inside business hours", tx)

    def second_currency(self, day: Day, at_ms: int, user: User) -> None:
        other = self.rng.choice([code for code in CURRENCIES if code != user.cur.code])
        self.transactions.sync(day, at_ms, user, "CREDIT", "MANUAL_ADDITION", "COMPENSATION",
                               typical_amount(self.rng, user, (5, 10, 16)), Decimal(0), legacy=False,
                               currency=other)

    def wrong_balance(self, day: Day, at_ms: int, user: User) -> None:
        tx = self.transactions.sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", "REMOVE", user.price,
                                    Decimal(0), legacy=False, moved_by=user.price * 2)
        self._note("calculation", "finding", "the balance moved by twice the amount", tx)

    def untied_error(self, day: Day, at_ms: int, user: User) -> None:
        message = Message(at_ms, random_uuid(self.rng), UNTIED_NIS,
                          nis=(user.id, user.balance, user.balance + float(user.price)))
        day.messages.append(message)
        self.book.append(Case("untied_error", "finding", "a not-in-sync error without a sync block",
                              user_id=user.id, at_ms=at_ms, detail=message.message_id))

    def crash_loop(self, day: Day, at_ms: int, _user) -> None:
        """Invoke errors every one to two and a half minutes: far more than on any ordinary day."""
        count = max(12, round(len(self.population.users) * 0.004))
        t = at_ms
        for _ in range(count):
            day.messages.append(Message(t, random_uuid(self.rng), INVOKE_ERROR))
            t += self.rng.randrange(60_000, 150_000)
        self.book.append(Case("error_day", "finding", f"a crash loop of {count} invoke errors", at_ms=at_ms,
                              detail="errors"))

    def wallet_incident(self, day: Day, at_ms: int, _user) -> None:
        """Many payment wallets fall out of sync at once: tonight's deductions open as many episodes."""
        count = max(15, round(len(self.population.users) * 0.03))
        chosen: set[str] = set()
        for _ in range(count):
            user = self.population.sample(self.population.subscribed, lambda u: (
                not u.offset and u.logged and u.id not in chosen and u.balance >= float(u.price)))
            if user is None:
                break
            chosen.add(user.id)
            user.offset = offset_value(self.rng, user)
        self.book.append(Case("error_day", "finding", f"{len(chosen)} payment wallets out of sync at once",
                              at_ms=at_ms, detail="discrepancies", users=tuple(sorted(chosen))))

    # --- copies ---------------------------------------------------------------------------------------

    def finish_day(self, day: Day) -> list[str]:
        """Redeliver the day's copy cases; return those that found no block (retried tomorrow)."""
        due, self.copies = self.copies, []
        if not due:
            return []
        times: dict[str, list[int]] = {}
        for m in day.messages:
            if m.tx is not None:
                times.setdefault(m.tx.user_id, []).append(m.at_ms)
        redelivered = set(self.stats.redelivered_message_ids)
        end = day.start_ms + DAY_MS - 10 * 60_000
        candidates = [m for m in day.messages if m.kind == SYNC and not m.night and not m.copy
                      and m.tx.outcome == PUBLISHED and not m.tx.legacy and m.tx.nis is None and not m.tx.lock
                      and m.tx.metadata == "json" and m.tx.source != "REFUND" and m.tx.user_id != TEST_USER_ID
                      and m.tx.id not in self.busy and m.message_id not in redelivered and m.at_ms < end
                      and sum(abs(t - m.at_ms) <= COPY_CLEAR_MS for t in times[m.tx.user_id]) == 1]
        unplaced = []
        for name in due:
            if not candidates:
                unplaced.append(name)
                continue
            message = candidates.pop(self.rng.randrange(len(candidates)))
            tx = message.tx
            if name == "identical_copy":
                tx.keep_body = True
                copy, expect, note = tx, "none", "the message redelivered ~90 s later, its block identical"
            else:
                copy, expect, note = dataclasses.replace(tx), "finding", \
                    "the message redelivered ~90 s later, its block's metadata different"
            day.messages.append(Message(message.at_ms + self.rng.randint(*REDELIVERY_MS), message.message_id, SYNC,
                                        tx=copy, copy=True))
            self._note("duplicate_transaction", expect, note, tx)
        return unplaced
