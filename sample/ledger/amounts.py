"""Money arithmetic of the ledger: typical amounts, VAT, rounding, and the balance a block prints.

Amounts and VAT are exact Decimals in currency precision; balances are JavaScript
doubles, rounded half up on their shortest decimal form (see sample.ledger).
"""
from __future__ import annotations

import random
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from sample.currencies import Currency
from sample.ledger.users import User


def rounded(value: float, cur: Currency) -> float:
    """Round half up to the currency precision (on the shortest decimal form of the double)."""
    return float(Decimal(repr(value)).quantize(cur.quantum, ROUND_HALF_UP))


def floor(value: float, cur: Currency) -> Decimal:
    """`value` rounded down to the currency precision (never more than the balance holds)."""
    return Decimal(repr(value)).quantize(cur.quantum, ROUND_FLOOR)


def covered(user: User) -> Decimal:
    """What the user's balance covers: the most a natural deduction takes."""
    return floor(max(user.balance, 0.0), user.cur)


def gross(cur: Currency, net: Decimal) -> tuple[Decimal, Decimal]:
    """Gross amount for a net price, and the VAT it includes."""
    return vat_included(cur, (net * (1 + cur.vat_rate)).quantize(cur.quantum, ROUND_HALF_UP))


def vat_included(cur: Currency, amount: Decimal) -> tuple[Decimal, Decimal]:
    """vat = amount × r / (1 + r), rounded to the currency precision."""
    vat = (amount * cur.vat_rate / (1 + cur.vat_rate)).quantize(cur.quantum, ROUND_HALF_UP)
    return amount, vat


def typical_amount(rng: random.Random, user: User, choices) -> Decimal:
    """One of `choices`, in BHD units: "price" is the user's daily price, "part" a part of the balance."""
    pick = rng.choice(choices)
    if pick == "price":
        return user.price
    if pick == "part":
        share = Decimal(rng.randint(10, 100)) / 100
        return floor(max(user.balance, 0.0) * float(share), user.cur)
    return (Decimal(str(pick)) * user.cur.scale).quantize(user.cur.quantum, ROUND_HALF_UP)


def new_balance(old: float, kind: str, amount: Decimal, vat: Decimal, moved_by: Decimal | None,
                cur: Currency, raw: bool) -> float:
    """old ± (amount − vat): the raw JS double, or rounded to the currency precision."""
    if moved_by is not None:
        # The §8.5 anomaly: the balance moved by amount / (1 + rate), rounded.
        signed = moved_by if kind == "CREDIT" else -moved_by
        return float((Decimal(repr(old)) + signed).quantize(cur.quantum, ROUND_HALF_UP))
    net = float(amount) - float(vat)
    new = old + net if kind == "CREDIT" else old - net
    return new if raw else rounded(new, cur)
