"""Everyday traffic: renewals, new subscriptions, other daytime transactions and payload-less skip messages."""
from __future__ import annotations

import random
from decimal import Decimal

from sample.draws import poisson, random_uuid, weighted
from sample.ledger.amounts import covered, gross, typical_amount, vat_included
from sample.ledger.day import Day
from sample.ledger.transaction import Transactions
from sample.ledger.users import Population, User
from sample.plan import SKIP_CREATE, SKIP_FLAG, Message

# Rates per user and day.
RENEW_P = 0.60                 # after the balance ran out: renew the next day, else go idle
RESTART_RATE = 0.0042          # an idle user starts a new subscription
MISC_RATE = 0.0150             # other daytime transactions (additions, deductions, refunds, add-ons)
FLAG_SKIP_RATE = 0.0058        # "Update Payment Balance Flag is set to false" messages
CREATE_SKIP_RATE = 0.0045      # create-subscription messages beyond the ledger's own new subscribers
SUBSCRIPTION_DELIVERIES = ((20, 55), (24, 10), (26, 10), (28, 8), (30, 7), (10, 5), (5, 5))
RENEWAL_ACTIONS = (("RENEW_SUBSCRIPTION", 78), ("CHANGE_PLAN", 12), ("CREATE_SUBSCRIPTION_WEB", 8),
                   ("AUTO_RENEW_SUBSCRIPTION", 2))
FLAG_ACTIONS = ("DONATE_RAMADAN_MEAL", "PURCHASE_ADDONS_FOR_DELIVERY")

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


class Traffic:
    """Plans each day's ordinary messages (`plan`) and carries them out as intents."""

    def __init__(self, rng: random.Random, population: Population, transactions: Transactions):
        self.rng, self.population, self.transactions = rng, population, transactions

    def plan(self, day: Day) -> None:
        self._renewals(day)
        self._new_subscriptions(day)
        self._misc(day)
        self._flag_skips(day)

    def _renewals(self, day: Day) -> None:
        people = self.population
        ended, people.ended = people.ended, []
        for user in ended:
            if self.rng.random() < RENEW_P:
                day.add(user, self.renew)
            else:
                people.idle.add(user)

    def _new_subscriptions(self, day: Day) -> None:
        idle = self.population.idle
        for _ in range(poisson(self.rng, len(idle) * RESTART_RATE)):
            user = idle.choice(self.rng)
            if user is None:
                break
            idle.remove(user)
            day.add(user, self.start_subscription, SKIP_CREATE)

    def _misc(self, day: Day) -> None:
        for _ in range(poisson(self.rng, len(self.population.users) * MISC_RATE)):
            user = self.population.active_user()
            if user is not None:
                day.add(user, self._misc_tx, self.rng.choices(MISC_ACTIONS, MISC_WEIGHTS)[0])

    def _flag_skips(self, day: Day) -> None:
        """Payload-less messages: they change no balance this function can see."""
        users = len(self.population.users)
        for _ in range(poisson(self.rng, users * FLAG_SKIP_RATE)):
            day.add(None, self.payloadless, SKIP_FLAG, self.rng.choice(FLAG_ACTIONS))
        for _ in range(poisson(self.rng, users * CREATE_SKIP_RATE)):
            day.add(None, self.payloadless, SKIP_CREATE)

    # --- intents ---------------------------------------------------------------------

    def renew(self, day: Day, at_ms: int, user: User) -> None:
        action = weighted(self.rng, RENEWAL_ACTIONS)
        deliveries = weighted(self.rng, SUBSCRIPTION_DELIVERIES)
        if action == "CHANGE_PLAN":
            deliveries = self.rng.randint(5, 20)
        self.population.subscribe(user)
        net = user.price * deliveries
        self.transactions.sync(day, at_ms, user, "CREDIT", "PAYMENT", action, *gross(user.cur, net))

    def start_subscription(self, day: Day, at_ms: int, user: User, kind: str) -> None:
        """A new subscription: users with history pay through a logged credit, new ones are synced elsewhere."""
        if user.logged:
            self.renew(day, at_ms, user)
            return
        deliveries = weighted(self.rng, SUBSCRIPTION_DELIVERIES)
        user.balance += float(user.price * deliveries)   # credited by the payment listener, not logged here
        self.population.subscribe(user)
        self.payloadless(day, at_ms, None, kind)

    def payloadless(self, day: Day, at_ms: int, _user, kind: str, flag_action: str | None = None) -> None:
        day.messages.append(Message(at_ms, random_uuid(self.rng), kind, flag_action=flag_action))

    def _misc_tx(self, day: Day, at_ms: int, user: User, row) -> None:
        action, kind, source, _weight, amounts = row
        rng, sync = self.rng, self.transactions.sync
        net = typical_amount(rng, user, amounts)
        cap = covered(user)   # natural deductions never overdraw (overdrafts are injected faults)
        if kind == "DEBIT":
            if cap <= 0:
                # Nothing left to deduct: a manual addition is what really happens to such users.
                sync(day, at_ms, user, "CREDIT", "MANUAL_ADDITION", "CUSTOMERS_CALO_EXPERIMENTS",
                     typical_amount(rng, user, (10, 5, 20)), Decimal(0))
                return
            net = min(net, cap)
        if source in ("PAYMENT", "REFUND"):
            amount, vat = gross(user.cur, net)
            if kind == "DEBIT" and amount > cap:
                amount, vat = vat_included(user.cur, cap)
        else:
            amount, vat = net, Decimal(0)
        meta = "undefined" if source == "REFUND" and rng.random() < 0.6 else "json"
        sync(day, at_ms, user, kind, source, action, amount, vat, metadata=meta)
