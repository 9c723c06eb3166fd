"""The ledger side of the sample generator: who pays what and when, and what the function logs about it.

A `Ledger` (ledger.py) simulates a population of subscribers day by day with one
seeded `random.Random`, and turns each day into a `DayPlan`: the SQS messages of that
day, with every printed number already final. It never writes files and never decides
timings finer than a message's arrival (that is sample.streams' job).

Where each part lives:

    users.py        the subscribers: balance, payment wallet offset, subscribed/idle pools
    timeline.py     the days: start times, legacy/full schema, not-in-sync meaning switch
    day.py          one day being planned: intents and daytime arrival times
    traffic.py      everyday renewals, new subscriptions, other transactions, skip messages
    nightly.py      the nightly batch of delivery deductions (and the guard that refuses one)
    transaction.py  one sync block: printed numbers and the balance it leaves
    amounts.py      money arithmetic: typical amounts, VAT, rounding
    injections.py   when rare kinds and faults happen, and to whom
    faults.py       the injected transactions themselves
    markers.py      injected kinds that mark an already logged block (lock, failed attempt)
    cases.py        --truth only: a case of every detector and discrepancy kind, and near misses
    tally.py        the SampleStats counts and sums

The model, tuned on the real export (shared/corpus, Dec 2023 – May 2024):

* A subscriber pays a subscription (a PAYMENT credit with VAT, or a create-subscription
  message whose payment is synced elsewhere), then gets one DELIVERY_DEDUCTION per
  delivery day in the nightly batch at 21:01 UTC, until the balance no longer covers a
  delivery. Then they renew the next day or go idle, and idle users come back slowly.
* During the day a few other transactions (manual additions and deductions, refunds,
  add-ons, pending payments) and payload-less skip messages arrive.
* Some users' payment wallet is off by a fixed amount (`offset`); their blocks carry a
  different `paymentBalance` and are followed by the not-in-sync ERROR.
* Rare kinds and deliberate faults are *scheduled* up front (`injections.INJECTIONS`):
  their number follows the real rate, with a minimum so that even a small sample has each.

Balances are JavaScript doubles. As in the real export, the printed newBalance is
`old ± (amount − vat)` rounded to the currency precision, except on the first day,
whose early build logged the raw double (noise such as `639.0840000000001`). The
oldBalance can carry noise of its own: a few users' stored balance keeps four
decimals (`11608.9303`, in a 3-decimal currency; the logged newBalance is rounded, so
consecutive blocks differ by < 0.0005), and outside edits leave values such as `225.90753636363627`.
Amounts and VAT are exact decimals in currency precision.

The deliberate faults, listed in SampleStats by transaction id, are described in faults.py.
"""
from sample.ledger.ledger import Ledger

__all__ = ["Ledger"]
