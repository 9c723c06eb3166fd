"""The subscribers: each one's balance and payment wallet, and who is subscribed, idle or just ran out."""
from __future__ import annotations

import dataclasses
import random
from decimal import Decimal

from sample.currencies import CURRENCIES, Currency
from sample.draws import random_uuid

INITIAL_SUBSCRIBED = 0.20      # share of users with a running subscription on day 0
INITIAL_OFFSET_P = 0.21        # users whose payment wallet is out of sync from the start
OFFSET_DRIFT_P = 0.002         # per transaction: the wallet offset appears, changes or heals
UNROUNDED_P = 0.02             # users of a 3-decimal currency whose stored balance keeps 4 decimals
TEST_USER_ID = "random-uuid"   # the real export's test user: every amount and balance is zero


@dataclasses.dataclass(slots=True, eq=False)
class User:
    id: str
    cur: Currency
    price: Decimal                 # per-delivery deduction
    balance: float = 0.0           # subscription balance (a JS double)
    offset: float = 0.0            # payment wallet − subscription balance
    subscribed: bool = False
    logged: bool = False           # has a sync block already (a later silent credit would break continuity)
    guard_pending: bool = False    # the nightly deduction will be refused by the guard
    break_pending: bool = False    # balance changed outside the function since the last block
    unrounded: bool = False        # the stored balance is not rounded to the currency (see sample.ledger)
    last_ms: int = -1              # last daytime arrival, to keep USER_GAP_MS


class Pool:
    """A list with O(1) add, remove and random choice (for idle/subscribed users)."""

    def __init__(self):
        self.items: list[User] = []
        self.where: dict[str, int] = {}

    def __len__(self):
        return len(self.items)

    def add(self, user: User) -> None:
        if user.id not in self.where:
            self.where[user.id] = len(self.items)
            self.items.append(user)

    def remove(self, user: User) -> None:
        i = self.where.pop(user.id, None)
        if i is None:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.where[last.id] = i

    def choice(self, rng: random.Random) -> User | None:
        return self.items[rng.randrange(len(self.items))] if self.items else None


class Population:
    """`count` subscribers, drawn from `rng`, plus the test user."""

    def __init__(self, rng: random.Random, count: int):
        self.rng = rng
        self.subscribed, self.idle = Pool(), Pool()
        self.known: list[User] = []       # users that ever subscribed (candidates for other transactions)
        self.known_ids: set[str] = set()
        self.ended: list[User] = []       # balance ran out last night: renew or go idle today
        # The first users hold one currency each and start subscribed, so that even a
        # small sample shows every currency; the rest follow the real shares.
        codes = list(CURRENCIES)
        self.users = [self._new_user(codes[i] if i < len(codes) else None) for i in range(count)]
        self.test_user = User(TEST_USER_ID, CURRENCIES["BHD"], Decimal(0))

    def _new_user(self, code: str | None = None) -> User:
        rng = self.rng
        cur = CURRENCIES[code] if code else rng.choices(list(CURRENCIES.values()),
                                                        [c.user_weight for c in CURRENCIES.values()])[0]
        prices, weights = zip(*cur.daily_prices)
        user = User(random_uuid(rng), cur, Decimal(rng.choices(prices, weights)[0]))
        if rng.random() < INITIAL_OFFSET_P:
            user.offset = offset_value(rng, user)
        # (the real export has them in BHD only: in a 2-decimal currency the rounded newBalance would differ from
        # the stored balance by up to 0.005, more than the 0.001 tolerance)
        if rng.random() < UNROUNDED_P and cur.places == 3:
            user.unrounded = True
            user.balance = (rng.randrange(1000) * 10 + rng.randint(1, 9)) / 10_000   # a true 4th decimal
        if code or rng.random() < INITIAL_SUBSCRIBED:
            user.balance += float(user.price * rng.randint(1, 25))
            user.subscribed = True
            self.subscribed.add(user)
            self.known.append(user)
            self.known_ids.add(user.id)
        else:
            if rng.random() < 0.3:
                user.balance += float((user.price * Decimal(rng.randint(1, 10)) / 2).quantize(cur.quantum))
            self.idle.add(user)
        return user

    def subscribe(self, user: User) -> None:
        user.subscribed = True
        self.idle.remove(user)
        self.subscribed.add(user)
        if user.id not in self.known_ids:
            self.known.append(user)
            self.known_ids.add(user.id)

    def end_subscription(self, user: User) -> None:
        """The balance no longer covers a delivery: renew or go idle tomorrow."""
        user.subscribed = False
        self.subscribed.remove(user)
        self.ended.append(user)

    def active_user(self) -> User | None:
        """A subscriber most of the time, else anyone who ever subscribed."""
        if self.subscribed and (self.rng.random() < 0.7 or not self.known):
            return self.subscribed.choice(self.rng)
        return self.rng.choice(self.known) if self.known else None

    def sample(self, pool: Pool, fits, tries: int = 300) -> User | None:
        """A random member of `pool` that `fits`, or None if a few hundred draws find none."""
        for _ in range(min(tries, 3 * len(pool))):
            user = pool.choice(self.rng)
            if fits(user):
                return user
        return None


def offset_value(rng: random.Random, user: User) -> float:
    """How far a payment wallet is off: often a few missed deliveries, sometimes any amount."""
    if rng.random() < 0.6:
        return -float(user.price * rng.randint(1, 3))
    amount = (user.cur.scale * Decimal(rng.randint(100, 300_000)) / 100).quantize(user.cur.quantum)
    return float(amount if rng.random() < 0.6 else -amount)


def drift_offset(rng: random.Random, user: User) -> None:
    """Now and then, at a transaction, the wallet offset appears, changes or heals."""
    if rng.random() >= OFFSET_DRIFT_P:
        return
    user.offset = 0.0 if user.offset and rng.random() < 0.5 else offset_value(rng, user)
