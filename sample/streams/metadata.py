"""The `metadata` JSON string of full-schema sync blocks, shaped per action like the real export.

`walletId` is always "wallet#" + userId; `version` is "syncBalanceSQS" where present.
Some values are JSON strings themselves (double encoding: `"addons":"[{\\"id\\":…}]"`),
and REPLACE_FOOD carries Arabic dish names, so the text is not pure ASCII.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sample.draws import random_uuid as _uuid
from sample.plan import Tx
from sample.text.jsformat import compact_json

VERSION = {"version": "syncBalanceSQS"}
DISHES = (("بان كيك القرفة و التمر", "Cinnamon Date Pancake"), ("بانكيك البروتين بالقرع", "Pumpkin Protein Pancakes"),
          ("سلطة الكينوا", "Quinoa Salad"), ("دجاج بالليمون", "Lemon Chicken"), ("شوفان الليل", "Overnight Oats"))
MEALS = ("breakfast", "lunch", "dinner", "snack", "salad")
KITCHENS = {"BHD": ("BH", "BH001"), "SAR": ("SA", "SA002"), "AED": ("AE", "AE001"), "KWD": ("KW", "KW001"),
            "QAR": ("QA", "QA001")}
# A gift message with an apostrophe inside a string that also holds double quotes:
# util.inspect then quotes the whole metadata with backticks.
GIFT_MESSAGES = ("Happy Eid, don't forget to eat well!", "You're the best, enjoy", "Ramadan Kareem, it's on me")


def metadata_for(tx: Tx, rng: random.Random, day: date) -> str | None:
    """The metadata string of `tx` (None prints as bare `undefined`)."""
    if tx.metadata == "undefined":
        return None
    uid = tx.user_id
    base = {"walletId": f"wallet#{uid}"}
    builder = _BUILDERS.get(tx.action, _manual)
    if tx.source == "REFUND":
        builder = _refund
    if tx.metadata == "backtick":
        builder = _addons_gift
    return compact_json(builder(tx, rng, day, base))


def _delivery(tx, rng, day, base):
    delivery = _uuid(rng)
    out = {**base, "deliveryId": delivery, "walletSk": delivery}
    return {**out, **VERSION} if rng.random() < 0.13 else out


def _manual(tx, rng, day, base):
    out = {**base, "walletSk": _uuid(rng)}
    return {**out, **VERSION} if rng.random() < 0.05 else out


def _refund(tx, rng, day, base):
    return dict(VERSION)


def _session(tx, rng, day, base):
    out = {**base, "eventSessionId": _uuid(rng), "walletSk": _uuid(rng), "version2": True}
    return {**out, **VERSION} if rng.random() < 0.25 else out


def _cash(tx, rng, day, base):
    if tx.source == "PAYMENT":
        return {**base, "planType": rng.choice(("custom", "full", "weightLossChallenge")), "walletSk": _uuid(rng)}
    return {**base, "walletSk": _uuid(rng)}


def _addons(tx, rng, day, base):
    items = [{"id": _uuid(rng), "quantity": rng.randint(1, 3)} for _ in range(rng.randint(1, 3))]
    out = {**base, "deliveryId": _uuid(rng), "eventSessionId": _uuid(rng), "walletSk": _uuid(rng), "version2": True,
           "addons": compact_json(items)}
    if rng.random() < 0.75:
        out["source"] = "APP"
    return {**out, "API_VERSION_2": True}


def _addons_gift(tx, rng, day, base):
    gift = {"id": _uuid(rng), "quantity": 1, "addonConfig": {"addonCategory": "EID", "notificationInfo": {
        "receiver": "friend", "receiverName": "world", "senderName": "Sam", "giftMessage": rng.choice(GIFT_MESSAGES),
        "deliveryInfo": {"deliveryType": "email", "email": "helloworld@example.com"}}}}
    return {**base, "deliveryId": _uuid(rng), "eventSessionId": _uuid(rng), "walletSk": _uuid(rng), "version2": True,
            "addons": compact_json([gift]), "source": "APP", "API_VERSION_2": True}


def _addon_subscription(tx, rng, day, base):
    country, kitchen = KITCHENS[tx.currency]
    start = day + timedelta(days=2)
    subs = [{"autoRenew": False, "category": rng.choice(("CALO_KIDS", "SNACKS", "COFFEE")),
             "endDate": (start + timedelta(days=rng.randint(7, 53))).isoformat(), "startDate": start.isoformat(),
             "pricePerDay": round(rng.uniform(0.5, 3), 4), "currency": tx.currency}]
    out = {**base, "country": country, "couponDiscount": 0, "eventSessionId": _uuid(rng), "walletSk": _uuid(rng),
           "version2": True, "addonSubscriptions": compact_json(subs), "subscriptionId": tx.user_id,
           "kitchen": kitchen}
    return {**out, **VERSION} if rng.random() < 0.5 else out


def _replace_food(tx, rng, day, base):
    def dish():
        ar, en = rng.choice(DISHES)
        return compact_json({"id": _uuid(rng), "name": {"ar": ar, "en": en}})
    return {**base, "deliveryId": _uuid(rng), "eventSessionId": _uuid(rng), "walletSk": _uuid(rng), "version2": True,
            "source": dish(), "target": dish(), "API_VERSION_2": True}


def _plan(rng, days: int) -> dict:
    meals = rng.sample(MEALS, rng.randint(2, 4))
    return {"id": rng.choice(("custom", "full", "weightLossChallenge")), "frequency": "monthly", "extras": [],
            "foodType": [meal for meal in meals for _ in range(days)]}


def _renew(tx, rng, day, base):
    """Renewals are the biggest payloads: the next plan, with one foodType entry per meal and day."""
    days = rng.choice((20, 20, 24, 26, 30))
    out = {"referralBalanceDiscount": 0} if rng.random() < 0.4 else {}
    out.update({**base, "planType": rng.choice(("custom", "full")), "goal": rng.choice(("loseWeight", "maintain")),
                "eventSessionId": _uuid(rng), "walletSk": _uuid(rng),
                "deliveryTime": rng.choice(("morning", "evening")),
                "dietType": rng.choice(("balanced", "chef-picks", "weight-loss")),
                "renewalDate": (day + timedelta(days=1)).isoformat(),
                "type": "autoRenew" if tx.action == "AUTO_RENEW_SUBSCRIPTION" else "userRenew",
                "frequency": "monthly", "subscriptionCost": float(Decimal(tx.amount) - Decimal(tx.vat)),
                "tier": "personalized", "version2": True, "addonCosts": {},
                "nextPlan": compact_json(_plan(rng, days)), "addonSubscription": []})
    return out


def _change_plan(tx, rng, day, base):
    plan = _plan(rng, 1)
    update = {"paymentMethod": "cc", "useBalance": True, "startDate": f"{day.isoformat()}T12:50:53.215Z",
              "dietType": "weight-loss", "planType": plan["id"], "foodType": plan["foodType"], "frequency": "monthly",
              "deliveryDays": [0, 1, 2, 3, 4, 5, 6], "planTier": "personalized",
              "redirectUrl": "calo://account?change-plan=true"}
    return {**base, "eventSessionId": _uuid(rng), "walletSk": _uuid(rng), "version2": True,
            "updateData": compact_json(update), "planObject": compact_json(plan)}


_BUILDERS = {
    "DELIVERY_DEDUCTION": _delivery, "DELIVERY_CANCELLATION": _delivery,
    "PAY_PENDING_AMOUNT": _session, "CREATE_SUBSCRIPTION_WEB": _session,
    "CASH_OR_BENEFIT_PAYMENT": _cash, "ADD_DELIVERY_ADDONS": _addons,
    "PURCHASE_ADDON_SUBSCRIPTION": _addon_subscription,
    "REPLACE_FOOD": _replace_food, "RENEW_SUBSCRIPTION": _renew, "AUTO_RENEW_SUBSCRIPTION": _renew,
    "CHANGE_PLAN": _change_plan,
}
