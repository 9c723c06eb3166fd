"""The ledger side of the sample generator: who pays what and when, and what the function logs about it.

A `Ledger` simulates a population of subscribers day by day with one seeded
`random.Random`, and turns each day into a `DayPlan`: the SQS messages of that day,
with every printed number already final. It never writes files and never decides
timings finer than a message's arrival (that is ingest.sample_streams' job).

The model, tuned on the real export (shared/corpus, Dec 2023 – May 2024):

* A subscriber pays a subscription (a PAYMENT credit with VAT, or a create-subscription
  message whose payment is synced elsewhere), then gets one DELIVERY_DEDUCTION per
  delivery day in the nightly batch at 21:01 UTC, until the balance no longer covers a
  delivery. Then they renew the next day or go idle, and idle users come back slowly.
* During the day a few other transactions (manual additions and deductions, refunds,
  add-ons, pending payments) and payload-less skip messages arrive.
* Some users' payment wallet is off by a fixed amount (`offset`); their blocks carry a
  different `paymentBalance` and are followed by the not-in-sync ERROR.
* Rare kinds and deliberate faults are *scheduled* up front (`INJECTIONS`): their
  number follows the real rate, with a minimum so that even a small sample has each.

Balances are JavaScript doubles. As in the real export, the printed newBalance is
`old ± (amount − vat)` rounded to the currency precision, except on the first day,
whose early build logged the raw double (noise such as `639.0840000000001`). The
oldBalance can carry noise of its own: a few users' stored balance keeps four
decimals (`11608.9303`; the logged newBalance is rounded, so consecutive blocks
differ by < 0.0005), and outside edits leave values such as `225.90753636363627`.
Amounts and VAT are exact decimals in currency precision.

Deliberate faults (listed in SampleStats by transaction id):

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

import dataclasses
import math
import random
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from sample.plan import (
    ALREADY, ALREADY2, CURRENCIES, GUARD, GUARDED, INVOKE_ERROR, NIS_MEANING_SWITCH_MS, PUBLISHED, SKIP_CREATE,
    SKIP_FLAG, SKIP_WEB, SYNC, SYNC_ERROR, Currency, DayPlan, Message, SampleStats, Tx)
from sample.text.lines import iso_ms, js_number, ulid_text, uuid_text

# --- rates (per user and day unless said otherwise) ------------------------------------

INITIAL_SUBSCRIBED = 0.20      # share of users with a running subscription on day 0
DELIVERY_P = 0.88              # a subscriber gets a delivery (and a deduction) on most nights
RENEW_P = 0.60                 # after the balance ran out: renew the next day, else go idle
RESTART_RATE = 0.0042          # an idle user starts a new subscription
MISC_RATE = 0.0150             # other daytime transactions (additions, deductions, refunds, add-ons)
FLAG_SKIP_RATE = 0.0058        # "Update Payment Balance Flag is set to false" messages
CREATE_SKIP_RATE = 0.0045      # create-subscription messages beyond the ledger's own new subscribers
INITIAL_OFFSET_P = 0.21        # users whose payment wallet is out of sync from the start
OFFSET_DRIFT_P = 0.002         # per transaction: the wallet offset appears, changes or heals
LEGACY_ALREADY_P = 0.27        # legacy blocks followed by "balance is already synced"
UNROUNDED_P = 0.02             # users whose stored balance keeps 4 decimals
NIS_METRIC_P = 0.25            # early not-in-sync ERRORs followed by a subBalanceDiscrapancy metric
BURST_P = 0.4                  # daytime messages arriving shortly after the previous one
BURST_MEAN_MS = 30_000
MESSAGES_PER_USER_DAY = 0.215  # what the above add up to; sizes the injection counts
SUBSCRIPTION_DELIVERIES = ((20, 55), (24, 10), (26, 10), (28, 8), (30, 7), (10, 5), (5, 5))
RENEWAL_ACTIONS = (("RENEW_SUBSCRIPTION", 78), ("CHANGE_PLAN", 12), ("CREATE_SUBSCRIPTION_WEB", 8),
                   ("AUTO_RENEW_SUBSCRIPTION", 2))
FLAG_ACTIONS = ("DONATE_RAMADAN_MEAL", "PURCHASE_ADDONS_FOR_DELIVERY")
METRIC_ONLY_ACTIONS = ("ALLERGIC_CONDITIONS", "BUG", "CALO_BUSINESS", "PERSONAL_PREFERENCE")

# Daytime arrivals per UTC hour, from the real export (hour 21 without its nightly batch).
HOUR_WEIGHTS = (125, 35, 17, 18, 41, 25, 94, 109, 154, 178, 237, 248, 262, 189, 238, 156, 140, 103, 91, 96,
                38, 40, 40, 52)
HOURS = tuple(range(24))
NIGHTLY_AT_MS = (21 * 3600 + 60) * 1000      # the nightly batch lands at 21:01:00 UTC
NIGHTLY_SPREAD_MS = 3000
# Daytime messages avoid the nightly batch and the first seconds of a day, so that a
# user's messages are always logged in the order the ledger applied them.
QUIET_WINDOWS_MS = ((0, 30_000), ((20 * 60 + 58) * 60_000, (21 * 60 + 6) * 60_000))
USER_GAP_MS = 10_000           # minimum spacing of one user's daytime messages
REDELIVERY_MS = (88_000, 90_200)  # SQS visibility timeout seen in the export

# Other daytime transactions: (action, type, source, weight, typical amounts in BHD units).
# "price" is the user's daily price, "part" a part of the balance. Net amounts for
# PAYMENT/REFUND (VAT is added on top), plain amounts otherwise.
MISC_ACTIONS = (
    ("PAY_PENDING_AMOUNT", "CREDIT", "PAYMENT", 103, (10, 5, 20, 1, 100, 50, 3)),
    ("ADD_DELIVERY_ADDONS", "CREDIT", "PAYMENT", 78, (35, 1.2, 70, 50, 9, 2.5, 3)),
    ("PURCHASE_ADDON_SUBSCRIPTION", "CREDIT", "PAYMENT", 59, (34.545, 10.909, 32.727, 69.091, 45, 30)),
    ("REPLACE_FOOD", "CREDIT", "PAYMENT", 35, (0.5, 0.5, 1.25, 1)),
    ("CASH_OR_BENEFIT_PAYMENT", "CREDIT", "PAYMENT", 12, (1, 10, 5, 100)),
    ("ADD_FOOD", "CREDIT", "PAYMENT", 2, (2, 3.5)),
    ("CUSTOMERS_CALO_EXPERIMENTS", "CREDIT", "MANUAL_ADDITION", 289,
     (10, 25.2, 5, 20, 0, 19.2, 14.545, 17.28, 15.455, 13.636, 18.182, 32)),
    ("ADD", "CREDIT", "MANUAL_ADDITION", 53, (100, 100, 100, 110)),
    ("CALO_TEAM_PERKS", "CREDIT", "MANUAL_ADDITION", 38, (9.091, 1000, 90.909, 13.636, 100, 81.818, 4.545)),
    ("REFERRAL_REDEEM_DAYS", "CREDIT", "MANUAL_ADDITION", 17, (230, 10, 30, 20, 290)),
    ("COMPENSATION", "CREDIT", "MANUAL_ADDITION", 14, ("price", 16, 4.5, 20)),
    ("DELIVERY_CANCELLATION", "CREDIT", "MANUAL_ADDITION", 11, ("price",)),
    ("CASH_OR_BENEFIT_PAYMENT", "CREDIT", "MANUAL_ADDITION", 10, (1, 10, 9.091, 54.545)),
    ("CX_GIFT", "CREDIT", "MANUAL_ADDITION", 6, (5, 10, 8)),
    ("REFERRAL_REDEEM_DISCOUNT", "CREDIT", "MANUAL_ADDITION", 6, (5, 10)),
    ("MANUAL_DISCOUNT", "CREDIT", "MANUAL_ADDITION", 6, (11, 10, 5)),
    ("CUSTOMERS_INFLUENCERS", "CREDIT", "MANUAL_ADDITION", 5, (100, 200)),
    ("MARKETING_GIFT_AND_EXPERIMENTS", "CREDIT", "MANUAL_ADDITION", 5, (10, 20)),
    ("OTHER", "CREDIT", "MANUAL_ADDITION", 4, (5, 50)),
    ("TRANSFERRED_CREDITS", "CREDIT", "MANUAL_ADDITION", 1, (100,)),
    ("INVAILID_ENTRY", "DEBIT", "MANUAL_DEDUCTION", 102, ("part", 172.727, 50, 159, 80, 77.273, 9.091)),
    ("DOUBLE_ENTRY", "DEBIT", "MANUAL_DEDUCTION", 36, (81.818, 172.727, 155, 51.818, "price", "part")),
    ("REMOVE", "DEBIT", "MANUAL_DEDUCTION", 20, (100, 0, 90, 12.908, 80.909, 1, 62)),
    ("REFUNDED_MANUALLY", "DEBIT", "MANUAL_DEDUCTION", 18, (9.091, 131, 75, 80, 163.636)),
    ("FIXING_BALANCE", "DEBIT", "MANUAL_DEDUCTION", 14, (180, 152, 50, 18.182, "part")),
    ("CREDIT_TRANSFER", "DEBIT", "MANUAL_DEDUCTION", 5, (50, 100)),
    ("REMOVING_DISCOUNT_CODE_CREDITS", "DEBIT", "MANUAL_DEDUCTION", 3, (10, 5)),
    ("REMOVING_GIFTS", "DEBIT", "MANUAL_DEDUCTION", 3, (10, 20)),
    ("OTHER", "DEBIT", "MANUAL_DEDUCTION", 1, (10,)),
    ("CALO_TEAM_PERKS", "DEBIT", "MANUAL_DEDUCTION", 1, (9.091,)),
    ("EXPIRED_CREDITS", "DEBIT", "MANUAL_DEDUCTION", 1, (5,)),
    ("FOREIGN_OBJECT", "DEBIT", "REFUND", 9, (196, 180, "part")),
    ("LEAVING_THE_COUNTRY", "DEBIT", "REFUND", 8, ("part",)),
    ("MEDICAL_CONDITION", "DEBIT", "REFUND", 4, (10, "part")),
    ("PARTIAL_REFUND", "DEBIT", "REFUND", 2, (20, 50)),
    ("FOOD_POISONING", "DEBIT", "REFUND", 1, ("price",)),
)
MISC_WEIGHTS = tuple(row[3] for row in MISC_ACTIONS)

# Rare kinds and faults: (count per expected message, minimum count, days allowed).
# "legacy": days on which legacy blocks are logged; "full": days with the full schema.
INJECTIONS = {
    "guard_no_block": (4.0e-4, 1, "all"),
    "guard_with_block": (4.6e-4, 1, "all"),
    "overdraft": (2.0e-4, 1, "all"),
    "lock": (2.8e-3, 1, "all"),
    "sync_error": (2.0e-3, 1, "all"),
    "invoke_error": (6.0e-5, 1, "all"),
    "skip_web": (6.3e-4, 1, "all"),
    "already2": (5.8e-4, 1, "legacy"),
    "continuity_break": (1.0e-3, 2, "all"),
    "ledger_break": (3.0e-4, 2, "legacy"),
    "negative_amount": (3.5e-4, 1, "all"),
    "random_uuid": (1.7e-4, 1, "full"),
    "backtick": (2.3e-4, 1, "full"),
    "undefined_metadata": (9.0e-4, 1, "full"),
}
MARKERS = ("lock", "sync_error", "already2")  # applied to the day's messages after the ledger ran


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
    unrounded: bool = False        # the stored balance is not rounded to the currency (see module doc)
    last_ms: int = -1              # last daytime arrival, to keep USER_GAP_MS


def _rounded(value: float, cur: Currency) -> float:
    """Round half up to the currency precision (on the shortest decimal form of the double)."""
    return float(Decimal(repr(value)).quantize(cur.quantum, ROUND_HALF_UP))


class _Pool:
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


@dataclasses.dataclass
class _Day:
    """Working state while one day is planned."""
    index: int
    start_ms: int
    intents: list = dataclasses.field(default_factory=list)   # (at_ms, seq, user, fn, args)
    messages: list[Message] = dataclasses.field(default_factory=list)
    markers: list[str] = dataclasses.field(default_factory=list)
    anchor_ms: int | None = None   # last daytime arrival (offset in the day), for bursts


class Ledger:
    """Simulates `users` subscribers over `days` days from `start`, one DayPlan per day."""

    def __init__(self, users: int, days: int, seed: int, start: date):
        self.rng = random.Random(seed)
        self.days, self.start = days, start
        self.start_ms = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp() * 1000)
        self.full_start = min(days, max(1, round(days * 0.05)))          # first day of the full schema
        self.legacy_end = self.full_start + min(7, max(1, round(days * 0.045)))  # first day without legacy
        self.export_task = self.new_uuid()
        # The old meaning of subscriptionBalance only when the range spans the change (else the new one).
        end_ms = self.start_ms + days * 86_400_000
        self.nis_switch_ms = NIS_MEANING_SWITCH_MS if self.start_ms < NIS_MEANING_SWITCH_MS < end_ms \
            else self.start_ms
        self.stats = SampleStats(days=days, users=users, seed=seed, start=start.isoformat(),
                                 export_task=self.export_task, nis_switch_at=iso_ms(self.nis_switch_ms))
        self.subscribed, self.idle = _Pool(), _Pool()
        self.known: list[User] = []       # users that ever subscribed (candidates for other transactions)
        self.known_ids: set[str] = set()
        self.ended: list[User] = []       # balance ran out last night: renew or go idle today
        # The first users hold one currency each and start subscribed, so that even a
        # small sample shows every currency; the rest follow the real shares.
        codes = list(CURRENCIES)
        self.users = [self._new_user(codes[i] if i < len(codes) else None) for i in range(users)]
        self.test_user = User("random-uuid", CURRENCIES["BHD"], Decimal(0))
        self.guards_seen = 0
        self.texts: dict[Decimal, str] = {}                       # printed form of each amount seen
        self.printed: Counter = Counter()                         # (currency, amount, vat) -> blocks
        self.pending: list[str] = []
        self.due = self._schedule(users * days * MESSAGES_PER_USER_DAY)

    # --- identifiers ---------------------------------------------------------------

    def new_uuid(self) -> str:
        return uuid_text(self.rng.getrandbits(128))

    def new_ulid(self, created_ms: int) -> str:
        return ulid_text(created_ms, self.rng.getrandbits(80))

    # --- setup ---------------------------------------------------------------------

    def _new_user(self, code: str | None = None) -> User:
        rng = self.rng
        cur = CURRENCIES[code] if code else rng.choices(list(CURRENCIES.values()),
                                                        [c.user_weight for c in CURRENCIES.values()])[0]
        prices, weights = zip(*cur.daily_prices)
        user = User(self.new_uuid(), cur, Decimal(rng.choices(prices, weights)[0]))
        if rng.random() < INITIAL_OFFSET_P:
            user.offset = self._offset_value(user)
        if rng.random() < UNROUNDED_P:
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

    def _schedule(self, expected_messages: float) -> dict[int, list[str]]:
        """Pick the days of every rare kind and fault (see INJECTIONS)."""
        windows = {"all": range(self.days), "legacy": range(min(self.days, self.legacy_end)),
                   "full": range(self.full_start, self.days)}
        due: dict[int, list[str]] = defaultdict(list)
        for name, (rate, minimum, window) in INJECTIONS.items():
            days = windows[window]
            if not days:
                continue
            for _ in range(max(minimum, round(rate * expected_messages))):
                due[self.rng.choice(days)].append(name)
        return due

    # --- public ----------------------------------------------------------------------

    def plan_days(self):
        """Yield one DayPlan per day, in order (the ledger state carries over)."""
        for index in range(self.days):
            yield self.plan_day(index)
        self._sum_amounts()

    def plan_day(self, index: int) -> DayPlan:
        day = _Day(index, self.start_ms + index * 86_400_000)
        self._renewals(day)
        self._new_subscriptions(day)
        self._misc(day)
        self._flag_skips(day)
        self._injections(day)
        day.intents.append((day.start_ms + NIGHTLY_AT_MS, -1, None, self._nightly, ()))
        self._space_users(day)
        for at_ms, _seq, user, fn, args in sorted(day.intents, key=lambda i: (i[0], i[1])):
            fn(day, at_ms, user, *args)
        self._apply_markers(day)
        day.messages.sort(key=lambda m: m.at_ms)
        self._tally(day.messages)
        when = (self.start + timedelta(days=index)).isoformat()
        return DayPlan(index, when, day.messages)

    # --- planning a day --------------------------------------------------------------

    def _daytime_ms(self, day: _Day, before_night: bool = False) -> int:
        """A random arrival time during the day, shaped like the real daytime traffic.

        Daytime traffic comes in bursts (an operator fixing several wallets, a user
        paying then adding items), which is why real environments often serve a few
        invocations a second or a minute apart.
        """
        rng = self.rng
        while True:
            if day.anchor_ms is not None and rng.random() < BURST_P:
                offset = day.anchor_ms + int(rng.expovariate(1 / BURST_MEAN_MS))
            else:
                offset = rng.choices(HOURS, HOUR_WEIGHTS)[0] * 3_600_000 + rng.randrange(3_600_000)
            if offset >= 86_400_000 or (before_night and offset >= QUIET_WINDOWS_MS[1][0]):
                continue
            if not any(lo <= offset < hi for lo, hi in QUIET_WINDOWS_MS):
                day.anchor_ms = offset
                return day.start_ms + offset

    def _add(self, day: _Day, user: User | None, fn, *args, before_night: bool = False) -> None:
        day.intents.append((self._daytime_ms(day, before_night), len(day.intents), user, fn, args))

    def _renewals(self, day: _Day) -> None:
        ended, self.ended = self.ended, []
        for user in ended:
            if self.rng.random() < RENEW_P:
                self._add(day, user, self._renew)
            else:
                self.idle.add(user)

    def _new_subscriptions(self, day: _Day) -> None:
        for _ in range(self._poisson(len(self.idle) * RESTART_RATE)):
            user = self.idle.choice(self.rng)
            if user is None:
                break
            self.idle.remove(user)
            self._add(day, user, self._start_subscription, SKIP_CREATE)

    def _misc(self, day: _Day) -> None:
        for _ in range(self._poisson(len(self.users) * MISC_RATE)):
            user = self._active_user()
            if user is not None:
                self._add(day, user, self._misc_tx, self.rng.choices(MISC_ACTIONS, MISC_WEIGHTS)[0])

    def _flag_skips(self, day: _Day) -> None:
        """Payload-less messages: they change no balance this function can see."""
        for _ in range(self._poisson(len(self.users) * FLAG_SKIP_RATE)):
            self._add(day, None, self._payloadless, SKIP_FLAG, self.rng.choice(FLAG_ACTIONS))
        for _ in range(self._poisson(len(self.users) * CREATE_SKIP_RATE)):
            self._add(day, None, self._payloadless, SKIP_CREATE)

    def _space_users(self, day: _Day) -> None:
        """Keep each user's daytime messages USER_GAP_MS apart, so that log order is ledger order.

        A clashing message gets a fresh random time (pushing it later could run into the
        nightly batch or the next day).
        """
        taken: dict[str, list[int]] = defaultdict(list)
        for i, (at_ms, seq, user, fn, args) in enumerate(day.intents):
            if user is None:
                continue
            times = taken[user.id]
            for _ in range(50):
                if all(abs(at_ms - t) >= USER_GAP_MS for t in times):
                    break
                at_ms = self._daytime_ms(day)
            day.intents[i] = (at_ms, seq, user, fn, args)
            times.append(at_ms)

    def _active_user(self) -> User | None:
        if self.subscribed and (self.rng.random() < 0.7 or not self.known):
            return self.subscribed.choice(self.rng)
        return self.rng.choice(self.known) if self.known else None

    def _poisson(self, mean: float) -> int:
        """Poisson sample (normal approximation for large means, which is plenty here)."""
        if mean <= 0:
            return 0
        if mean > 50:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, k, p = math.exp(-mean), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    # --- intents: lifecycle ----------------------------------------------------------

    def _subscribe(self, user: User) -> None:
        user.subscribed = True
        self.idle.remove(user)
        self.subscribed.add(user)
        if user.id not in self.known_ids:
            self.known.append(user)
            self.known_ids.add(user.id)

    def _renew(self, day: _Day, at_ms: int, user: User) -> None:
        action = self._weighted(RENEWAL_ACTIONS)
        deliveries = self._weighted(SUBSCRIPTION_DELIVERIES)
        if action == "CHANGE_PLAN":
            deliveries = self.rng.randint(5, 20)
        self._subscribe(user)
        net = user.price * deliveries
        self._sync(day, at_ms, user, "CREDIT", "PAYMENT", action, *self._gross(user.cur, net))

    def _start_subscription(self, day: _Day, at_ms: int, user: User, kind: str) -> None:
        """A new subscription: users with history pay through a logged credit, new ones are synced elsewhere."""
        if user.logged:
            self._renew(day, at_ms, user)
            return
        deliveries = self._weighted(SUBSCRIPTION_DELIVERIES)
        user.balance += float(user.price * deliveries)   # credited by the payment listener, not logged here
        self._subscribe(user)
        self._payloadless(day, at_ms, None, kind)

    def _nightly(self, day: _Day, at_ms: int, _user) -> None:
        """The nightly batch: one deduction per subscriber whose balance covers a delivery."""
        for user in list(self.subscribed.items):
            arrive = at_ms + self.rng.randrange(NIGHTLY_SPREAD_MS)
            if user.balance < float(user.price):
                user.subscribed = False
                self.subscribed.remove(user)
                self.ended.append(user)
                if user.guard_pending:
                    self._guard_message(day, arrive, user)
            elif self.rng.random() < DELIVERY_P:
                self._sync(day, arrive, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION",
                           user.price, Decimal(0), night=True)

    def _guard_message(self, day: _Day, at_ms: int, user: User) -> None:
        user.guard_pending = False
        tx_id = self.new_ulid(at_ms - self.rng.randint(200, 1500))
        early = day.index < self.full_start
        metric = None
        if early or self.guards_seen == 0 or self.rng.random() < 0.5:
            metric = self.rng.choice(METRIC_ONLY_ACTIONS) if self.rng.random() < 0.3 else "DELIVERY_DEDUCTION"
        self.guards_seen += 1
        day.messages.append(Message(at_ms, self.new_uuid(), GUARD, night=True,
                                    guard=(user.id, tx_id, user.balance), metric_action=metric))

    def _payloadless(self, day: _Day, at_ms: int, _user, kind: str, flag_action: str | None = None) -> None:
        day.messages.append(Message(at_ms, self.new_uuid(), kind, flag_action=flag_action))

    def _misc_tx(self, day: _Day, at_ms: int, user: User, row) -> None:
        action, kind, source, _weight, amounts = row
        net = self._typical_amount(user, amounts)
        cap = self._floor(user, max(user.balance, 0.0))   # natural deductions never overdraw (see INJECTIONS)
        if kind == "DEBIT":
            if cap <= 0:
                # Nothing left to deduct: a manual addition is what really happens to such users.
                self._sync(day, at_ms, user, "CREDIT", "MANUAL_ADDITION", "CUSTOMERS_CALO_EXPERIMENTS",
                           self._typical_amount(user, (10, 5, 20)), Decimal(0))
                return
            net = min(net, cap)
        if source in ("PAYMENT", "REFUND"):
            amount, vat = self._gross(user.cur, net)
            if kind == "DEBIT" and amount > cap:
                amount, vat = self._vat_included(user.cur, cap)
        else:
            amount, vat = net, Decimal(0)
        meta = "undefined" if source == "REFUND" and self.rng.random() < 0.6 else "json"
        self._sync(day, at_ms, user, kind, source, action, amount, vat, metadata=meta)

    # --- intents: injected rare kinds and faults -------------------------------------

    def _injections(self, day: _Day) -> None:
        todo, self.pending = self.pending + self.due.pop(day.index, []), []
        for name in todo:
            if name in MARKERS:
                day.markers.append(name)
            elif not self._inject(day, name):
                self._keep_pending(day, name)

    def _keep_pending(self, day: _Day, name: str) -> None:
        """Retry tomorrow, unless the kind's window is over."""
        window = INJECTIONS[name][2]
        if window == "legacy" and day.index + 1 >= self.legacy_end:
            return
        self.pending.append(name)

    def _inject(self, day: _Day, name: str) -> bool:
        rng = self.rng
        if name == "invoke_error":
            self._add(day, None, self._payloadless, INVOKE_ERROR)
            return True
        if name == "random_uuid":
            self._add(day, None, self._test_user_tx)
            return True
        if name == "skip_web":
            user = self._sample(self.idle, lambda u: not u.logged)
            if user is None:
                return False
            self.idle.remove(user)
            self._add(day, user, self._start_subscription, SKIP_WEB)
            return True
        user = self._injection_user(name)
        if user is None:
            return False
        handler = {
            "guard_no_block": self._prepare_guard, "guard_with_block": self._overdraw,
            "overdraft": self._overdraw, "continuity_break": self._external_change,
            "ledger_break": self._ledger_break, "negative_amount": self._negative_amount,
            "backtick": self._addon_gift, "undefined_metadata": self._refund_undefined}[name]
        args = (name == "overdraft",) if handler == self._overdraw else ()
        # The guard must be armed before tonight's batch, or it would slip to a later night.
        self._add(day, user, handler, *args, before_night=name == "guard_no_block")
        return True

    def _injection_user(self, name: str) -> User | None:
        """A user for whom the fault is visible: subscribed (more blocks will follow), with history when needed."""
        def fits(u: User) -> bool:
            if u.balance <= float(u.price) or u.guard_pending:
                return False
            if name == "continuity_break" and not u.logged:
                return False
            return name != "ledger_break" or u.cur.vat_rate > 0
        return self._sample(self.subscribed, fits)

    def _sample(self, pool: _Pool, fits, tries: int = 300) -> User | None:
        """A random member of `pool` that `fits`, or None if a few hundred draws find none."""
        for _ in range(min(tries, 3 * len(pool))):
            user = pool.choice(self.rng)
            if fits(user):
                return user
        return None

    def _prepare_guard(self, day: _Day, at_ms: int, user: User) -> None:
        """A large manual deduction leaves less than one delivery: tonight's deduction hits the guard."""
        user.guard_pending = True
        price = float(user.price)
        if user.balance >= price:
            leftover = Decimal(self.rng.randrange(1, max(2, int(price * 2)))) / 2
            amount = self._floor(user, user.balance - float(leftover))
            self._sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", self.rng.choice(("INVAILID_ENTRY",
                       "DOUBLE_ENTRY", "FIXING_BALANCE")), amount, Decimal(0))

    def _overdraw(self, day: _Day, at_ms: int, user: User, applied: bool) -> None:
        """A manual deduction larger than the balance: guarded (not applied) or, rarely, applied."""
        extra = user.price * self.rng.randint(1, 6)
        amount = self._floor(user, max(user.balance, 0.0)) + extra
        action = self.rng.choice(("INVAILID_ENTRY", "DOUBLE_ENTRY"))
        tx = self._sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", action, amount, Decimal(0),
                        outcome=PUBLISHED if applied else GUARDED)
        if applied:
            self.stats.overdraft_tx_ids.append(tx.id)

    def _external_change(self, day: _Day, at_ms: int, user: User) -> None:
        """The balance changes outside the function (not logged): the user's next block breaks continuity."""
        if self.rng.random() < 0.5:
            # Such edits left values like 225.90753636363627 in the real export.
            user.balance = float(int(user.balance * 1.1) + self.rng.randint(1, 9)) / 1.1
        else:
            steps = (-2, -1, 1, 2, 3) if user.balance > 3 * float(user.price) else (1, 2, 3)
            user.balance += float(user.price * self.rng.choice(steps))
        user.break_pending = True

    def _ledger_break(self, day: _Day, at_ms: int, user: User) -> None:
        """§8.5: VAT applied but logged as 0 (legacy schema), the balance moves by amount / (1 + rate)."""
        cur = user.cur
        if self.rng.random() < 0.5:
            amount, kind, action, source = self._typical_amount(user, (10, 11, 20, 270)), "CREDIT", \
                "PAY_PENDING_AMOUNT", "PAYMENT"
        else:
            amount, kind, action, source = min(user.price, self._floor(user, max(user.balance, 0.0))), "DEBIT", \
                "PARTIAL_REFUND", "REFUND"
        tx = self._sync(day, at_ms, user, kind, source, action, amount, Decimal(0), legacy=True,
                        moved_by=(amount / (1 + cur.vat_rate)))
        self.stats.ledger_break_tx_ids.append(tx.id)

    def _negative_amount(self, day: _Day, at_ms: int, user: User) -> None:
        amount = -self.rng.choice((Decimal("1.5"), Decimal("0.5"), Decimal(1), user.price / 2)).quantize(
            user.cur.quantum)
        tx = self._sync(day, at_ms, user, "DEBIT", "MANUAL_DEDUCTION", "DELIVERY_DEDUCTION", amount, Decimal(0))
        self.stats.negative_amount_tx_ids.append(tx.id)

    def _addon_gift(self, day: _Day, at_ms: int, user: User) -> None:
        amount, vat = self._gross(user.cur, user.cur.scale * 35)
        self._sync(day, at_ms, user, "CREDIT", "PAYMENT", "ADD_DELIVERY_ADDONS", amount, vat,
                   metadata="backtick", legacy=False)

    def _refund_undefined(self, day: _Day, at_ms: int, user: User) -> None:
        amount, vat = self._vat_included(user.cur, min(user.price, self._floor(user, max(user.balance, 0.0))))
        self._sync(day, at_ms, user, "DEBIT", "REFUND", self.rng.choice(("LEAVING_THE_COUNTRY", "FOREIGN_OBJECT")),
                   amount, vat, metadata="undefined", legacy=False)

    def _test_user_tx(self, day: _Day, at_ms: int, _user) -> None:
        """The test user 'random-uuid': every amount and balance is zero."""
        self._sync(day, at_ms, self.test_user, "CREDIT", "MANUAL_ADDITION", "CUSTOMERS_CALO_EXPERIMENTS",
                   Decimal(0), Decimal(0), legacy=False)

    # --- markers: applied to the day's messages ---------------------------------------

    def _apply_markers(self, day: _Day) -> None:
        """Mark some of the day's completed daytime blocks; each block gets one marker at most."""
        if not day.markers:
            return
        candidates = [m for m in day.messages if m.kind == SYNC and not m.night
                      and m.tx.outcome in (PUBLISHED, ALREADY) and m.at_ms >= day.start_ms + 600_000
                      and m.tx.user_id != self.test_user.id]
        for name in day.markers:
            wanted = (lambda m: m.tx.legacy) if name == "already2" else (lambda m: m.tx.outcome == PUBLISHED)
            message = self._pick(candidates, wanted)
            if message is None and name == "already2":   # small samples: a nightly legacy block will do
                message = self._pick([m for m in day.messages if m.night and m.kind == SYNC], wanted)
            if message is None:
                self._keep_pending(day, name)
            else:
                getattr(self, f"_mark_{name}")(day, message)

    def _pick(self, candidates: list[Message], wanted) -> Message | None:
        """Remove and return a random candidate that is `wanted`."""
        fitting = [i for i, m in enumerate(candidates) if wanted(m)]
        if not fitting:
            return None
        return candidates.pop(self.rng.choice(fitting))

    def _mark_lock(self, day: _Day, message: Message) -> None:
        message.tx.lock = True

    def _mark_already2(self, day: _Day, message: Message) -> None:
        tx = message.tx
        tx.outcome, tx.nis, tx.nis_metric = ALREADY2, None, False

    def _mark_sync_error(self, day: _Day, message: Message) -> None:
        """A message fails once (rarely twice) and SQS redelivers it ~90 s later; the last attempt succeeds."""
        at_ms = message.at_ms
        for _ in range(2 if self.rng.random() < 0.1 else 1):
            at_ms -= self.rng.randint(*REDELIVERY_MS)
            day.messages.append(Message(at_ms, message.message_id, SYNC_ERROR))
        self.stats.redelivered_message_ids.append(message.message_id)

    # --- the transaction itself ---------------------------------------------------------

    def _sync(self, day: _Day, at_ms: int, user: User, kind: str, source: str, action: str,
              amount: Decimal, vat: Decimal, *, night: bool = False, metadata: str = "json",
              outcome: str | None = None, legacy: bool | None = None, moved_by: Decimal | None = None) -> Tx:
        """Log one sync block for `user` and apply it to the balance (unless guarded)."""
        if legacy is None:
            legacy = self._legacy_today(day.index)
        if outcome is None:
            outcome = ALREADY if legacy and self.rng.random() < LEGACY_ALREADY_P else PUBLISHED
        self._drift_offset(user)
        old = user.balance
        raw = day.index == 0
        new = self._new_balance(old, kind, amount, vat, moved_by, user.cur, raw)
        if outcome != GUARDED:
            user.balance = self._new_balance(old, kind, amount, vat, moved_by, user.cur, True) \
                if user.unrounded and moved_by is None else new
        payment = new
        if user.offset:
            payment = new + user.offset if raw else _rounded(new + user.offset, user.cur)
        created_ms = at_ms - self.rng.randint(50, 3000)
        tx = Tx(self.new_ulid(created_ms), legacy, kind, source, action, user.id, user.cur.code,
                self._text(amount), self._text(vat), old, new, payment, metadata, created_ms, outcome)
        if user.offset and outcome != GUARDED:
            before_switch = at_ms < self.nis_switch_ms
            tx.nis = (old if before_switch else new, payment)
            tx.nis_metric = day.index < self.full_start and self.rng.random() < NIS_METRIC_P
        if user.break_pending:
            user.break_pending = False
            self.stats.continuity_break_tx_ids.append(tx.id)
        user.logged = True
        day.messages.append(Message(at_ms, self.new_uuid(), SYNC, night=night, tx=tx))
        return tx

    @staticmethod
    def _new_balance(old: float, kind: str, amount: Decimal, vat: Decimal, moved_by: Decimal | None,
                     cur: Currency, raw: bool) -> float:
        """old ± (amount − vat): the raw JS double, or rounded to the currency precision."""
        if moved_by is not None:
            # The §8.5 anomaly: the balance moved by amount / (1 + rate), rounded.
            signed = moved_by if kind == "CREDIT" else -moved_by
            return float((Decimal(repr(old)) + signed).quantize(cur.quantum, ROUND_HALF_UP))
        net = float(amount) - float(vat)
        new = old + net if kind == "CREDIT" else old - net
        return new if raw else _rounded(new, cur)

    def _legacy_today(self, index: int) -> bool:
        """Legacy only before the full schema starts, then fading out over the overlap."""
        if index < self.full_start:
            return True
        if index >= self.legacy_end:
            return False
        share = (self.legacy_end - index) / (self.legacy_end - self.full_start + 1)
        return self.rng.random() < share

    def _drift_offset(self, user: User) -> None:
        if user is self.test_user or self.rng.random() >= OFFSET_DRIFT_P:
            return
        user.offset = 0.0 if user.offset and self.rng.random() < 0.5 else self._offset_value(user)

    def _offset_value(self, user: User) -> float:
        """How far a payment wallet is off: often a few missed deliveries, sometimes any amount."""
        if self.rng.random() < 0.6:
            return -float(user.price * self.rng.randint(1, 3))
        amount = (user.cur.scale * Decimal(self.rng.randint(100, 300_000)) / 100).quantize(user.cur.quantum)
        return float(amount if self.rng.random() < 0.6 else -amount)

    # --- amounts ------------------------------------------------------------------------

    def _typical_amount(self, user: User, choices) -> Decimal:
        pick = self.rng.choice(choices)
        if pick == "price":
            return user.price
        if pick == "part":
            share = Decimal(self.rng.randint(10, 100)) / 100
            return self._floor(user, max(user.balance, 0.0) * float(share))
        return (Decimal(str(pick)) * user.cur.scale).quantize(user.cur.quantum, ROUND_HALF_UP)

    @staticmethod
    def _floor(user: User, value: float) -> Decimal:
        """`value` rounded down to the currency precision (never more than the balance holds)."""
        return Decimal(repr(value)).quantize(user.cur.quantum, ROUND_FLOOR)

    @staticmethod
    def _gross(cur: Currency, net: Decimal) -> tuple[Decimal, Decimal]:
        """Gross amount for a net price, and the VAT it includes."""
        return Ledger._vat_included(cur, (net * (1 + cur.vat_rate)).quantize(cur.quantum, ROUND_HALF_UP))

    @staticmethod
    def _vat_included(cur: Currency, amount: Decimal) -> tuple[Decimal, Decimal]:
        """vat = amount × r / (1 + r), rounded to the currency precision."""
        vat = (amount * cur.vat_rate / (1 + cur.vat_rate)).quantize(cur.quantum, ROUND_HALF_UP)
        return amount, vat

    def _text(self, amount: Decimal) -> str:
        text = self.texts.get(amount)
        if text is None:
            text = self.texts[amount] = js_number(amount)
        return text

    def _weighted(self, table):
        values, weights = zip(*table)
        return self.rng.choices(values, weights)[0]

    # --- statistics -------------------------------------------------------------------------

    def _tally(self, messages: list[Message]) -> None:
        s = self.stats
        skips = Counter()
        for m in messages:
            if m.kind != INVOKE_ERROR:
                s.messages += 1
            if m.kind == SYNC:
                self._tally_tx(m.tx, skips)
            elif m.kind in (SKIP_CREATE, SKIP_WEB, SKIP_FLAG):
                skips[m.kind] += 1
            elif m.kind == GUARD:
                s.guards += 1
                s.metric_lines += m.metric_action is not None
                s.guard_only_tx_ids.append(m.guard[1])
            elif m.kind == SYNC_ERROR:
                s.sync_errors += 1
                s.metric_lines += 1
            elif m.kind == INVOKE_ERROR:
                s.invoke_errors += 1
        for kind, count in skips.items():
            s.skips_by_kind[kind] = s.skips_by_kind.get(kind, 0) + count
            s.skips += count

    def _sum_amounts(self) -> None:
        """Exact per-currency sums of the printed amount and vat of every sync block."""
        s = self.stats
        for (code, amount, vat), count in sorted(self.printed.items()):
            s.transactions_by_currency[code] = s.transactions_by_currency.get(code, 0) + count
            s.amount_by_currency[code] = s.amount_by_currency.get(code, Decimal(0)) + Decimal(amount) * count
            s.vat_by_currency[code] = s.vat_by_currency.get(code, Decimal(0)) + Decimal(vat) * count

    def _tally_tx(self, tx: Tx, skips: Counter) -> None:
        s = self.stats
        s.transactions += 1
        s.legacy_transactions += tx.legacy
        self.printed[tx.currency, tx.amount, tx.vat] += 1   # summed once at the end: amounts repeat a lot
        if tx.outcome in (ALREADY, ALREADY2):
            skips["skip_already" if tx.outcome == ALREADY else "already_synced"] += 1
        if tx.outcome == GUARDED:
            s.guards += 1
            s.unapplied_tx_ids.append(tx.id)
        if tx.nis is not None:
            s.not_in_sync += 1
            s.metric_lines += tx.nis_metric
        s.locks += tx.lock
