"""Typed rows from parsed payloads: transactions, not-in-sync errors, negative-balance refusals.

Pure functions: a classified Event in, a dict of column values out (or a
reason to quarantine). Money goes Decimal -> micro-units, never through float.
"""
from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache

from db import schema as s
from db.money import MAX_MICROS, parse_decimal, to_micros
from ingest.inspect_parser import UNDEFINED

FULL_FIELDS = ("id", "type", "source", "action", "userId", "paymentBalance", "updatePaymentBalance",
               "metadata", "currency", "amount", "vat", "oldBalance", "newBalance")
_KNOWN_FIELDS = frozenset(FULL_FIELDS)
LEGACY_FIELDS = ("id", "userId", "currency", "amount", "vat", "oldBalance", "newBalance")
MONEY_FIELDS = {"amount": "amount", "vat": "vat", "oldBalance": "old_balance", "newBalance": "new_balance",
                "paymentBalance": "payment_balance"}
_MONEY_COLUMNS = tuple((field, column, f"{column}_text") for field, column in MONEY_FIELDS.items())
# The Lambda printed the balance *before* the transaction up to the nightly batch of 2024-01-07 and the
# balance *after* it from the batch of 2024-01-08 on (log-format.md §8.6); no event falls in between.
SUBSCRIPTION_BALANCE_MEANING_CHANGED_AT = "2024-01-08T00:00:00.000Z"


class RowError(ValueError):
    """The payload is readable but cannot become a row; the message is the quarantine reason."""


# The text columns each row fills from the log, and how many characters the database keeps of each
_LIMITS = {table.name: tuple((c, n) for c, n in s.text_limits(table).items() if c not in (
    "ts", "business_date", "request_id", "message_id", "schema", "outcome", "overdraft_reason",
    "subscription_balance_meaning")) for table in (s.balance_events, s.not_in_sync_events, s.negative_balance_guards)}


def _fits(row: dict, table: str) -> dict:
    """The row, if every text value fits its column (else RowError: the event is quarantined with the reason)."""
    for column, most in _LIMITS[table]:
        value = row.get(column)
        if value is not None and len(value) > most:
            shown = value if len(value) <= 40 else value[:39] + "…"
            raise RowError(f"{column} of {len(value):,} characters is longer than the {most} the database keeps: "
                           f"{shown!r}")
    return row


# literal -> money() of the Decimal that prints as it: amounts, VAT and balances repeat a lot. str() of a
# Decimal names it exactly (sign, digits, exponent), so the literal is a safe key. Emptied when it grows large.
_MONEY_OF_LITERAL: dict[str, tuple[int | None, str, bool]] = {}
_MONEY_CACHE_SIZE = 10_000  # about 2 MB per process: bounded memory whatever the corpus


def money(value) -> tuple[int | None, str | None, bool]:
    """(micros, literal, exact) of a printed number; quoted numeric strings are accepted."""
    if type(value) is Decimal:  # what the parser makes of every number: the common case
        literal = str(value)
        known = _MONEY_OF_LITERAL.get(literal)
        if known is None:
            if len(_MONEY_OF_LITERAL) >= _MONEY_CACHE_SIZE:
                _MONEY_OF_LITERAL.clear()
            known = _MONEY_OF_LITERAL[literal] = _money_of(value, literal)
        return known
    if value is None or value is UNDEFINED:
        return None, None if value is None else "undefined", True
    if isinstance(value, bool):
        return None, str(value).lower(), True
    literal = str(value)
    return _money_of(value if isinstance(value, Decimal) else parse_decimal(literal), literal)


def _money_of(number: Decimal | None, literal: str) -> tuple[int | None, str, bool]:
    if number is None or not number.is_finite():
        return None, literal, True
    micros, exact = to_micros(number)
    if not -MAX_MICROS <= micros <= MAX_MICROS:
        raise RowError(f"{literal} is beyond what a BIGINT of micro-units holds (±9,223,372,036,854.775807)")
    return micros, literal, exact


def _money_field(name: str, value) -> tuple[int | None, str | None, bool]:
    try:
        return money(value)
    except RowError as exc:
        raise RowError(f"{name} {exc}") from None


def _text(value) -> str | None:
    if value is None or value is UNDEFINED:
        return None
    return str(value)


# = json.loads(text, parse_float=Decimal), without building a decoder for every block
_decode_metadata = json.JSONDecoder(parse_float=Decimal).decode


def _metadata(value) -> tuple[str | None, bool | None, object]:
    """(column text, is_json, value for the payload JSON)."""
    if value is None or value is UNDEFINED:
        return None, None, value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str), True, value
    text = str(value)
    try:
        if text.startswith("\ufeff"):  # json.loads refuses a BOM; the shared decoder would not
            raise ValueError("Unexpected UTF-8 BOM")
        parsed = _decode_metadata(text)
    except ValueError:
        return text, False, text
    return text, True, parsed


def transaction_row(payload: object, tolerance: Decimal) -> dict:
    tx = payload.get("transaction") if isinstance(payload, dict) else None
    if not isinstance(tx, dict):
        raise RowError("sync block without a 'transaction' object")
    get = tx.get
    tx_id = _text(get("id"))
    if not tx_id:
        raise RowError("sync block without a transaction id")
    row = {"transaction_id": tx_id, "user_id": _text(get("userId")),
           "currency": (_text(get("currency")) or "").upper() or None,
           "source": _text(get("source")), "action": _text(get("action")),
           "schema": "full" if "type" in tx else "legacy"}
    exact_all = True
    for field, column, text_column in _MONEY_COLUMNS:
        try:
            row[column], row[text_column], exact = money(get(field))
        except RowError as exc:
            raise RowError(f"{field} {exc}") from None
        if not exact:
            exact_all = False
    row["is_float_noise"] = not exact_all
    upb = tx.get("updatePaymentBalance")
    row["update_payment_balance"] = upb if isinstance(upb, bool) else None
    row["metadata"], row["metadata_is_json"], parsed_meta = _metadata(tx.get("metadata"))
    if row["metadata_is_json"]:
        tx["metadata"] = parsed_meta  # so parsed_logs.payload holds metadata as JSON, not a string
    if _KNOWN_FIELDS.issuperset(tx):  # the usual case, tested without building the dict of extras
        row["extra_fields"] = None
    else:
        extra = {k: v for k, v in tx.items() if k not in _KNOWN_FIELDS}
        row["extra_fields"] = json.dumps(extra, default=str, ensure_ascii=False)
    type_ = (_text(tx.get("type")) or "").upper() or None
    row["type"], row["type_inferred"] = (type_, False) if type_ else (infer_type(row, tolerance), True)
    return _fits(row, "balance_events")


@lru_cache(maxsize=8)
def _micros_of_tolerance(tolerance: Decimal) -> int:
    return int(tolerance * 10**6)


def infer_type(row: dict, tolerance: Decimal) -> str | None:
    """Direction of a legacy block: the one that satisfies the ledger rule, else the sign of the change."""
    old, new, amount, vat = row.get("old_balance"), row.get("new_balance"), row.get("amount"), row.get("vat")
    if old is None or new is None:
        return None
    if amount is not None:
        net = amount - (vat or 0)
        tol = _micros_of_tolerance(tolerance)
        fits_debit, fits_credit = abs(old - net - new) <= tol, abs(old + net - new) <= tol
        if fits_debit != fits_credit:
            return "DEBIT" if fits_debit else "CREDIT"
    return "DEBIT" if new < old else "CREDIT"


def not_in_sync_row(payload: object, ts: str) -> dict:
    if not isinstance(payload, dict):
        raise RowError("not-in-sync error without its object")
    sub, sub_text, _ = _money_field("subscriptionBalance", payload.get("subscriptionBalance"))
    pay, pay_text, _ = _money_field("paymentBalance", payload.get("paymentBalance"))
    return _fits({"user_id": _text(payload.get("userId")),
                  "subscription_balance": sub, "subscription_balance_text": sub_text,
                  "payment_balance": pay, "payment_balance_text": pay_text,
                  "subscription_balance_meaning":
                      "old_balance" if ts < SUBSCRIPTION_BALANCE_MEANING_CHANGED_AT else "new_balance"},
                 "not_in_sync_events")


def guard_row(payload: object) -> dict:
    data = payload.get("data") if isinstance(payload, dict) else None
    data = data if isinstance(data, dict) else {}
    balance, balance_text, _ = _money_field("currentBalance", data.get("currentBalance"))
    return _fits({"user_id": _text(data.get("userId")), "transaction_id": _text(data.get("transactionId")),
                  "current_balance": balance, "current_balance_text": balance_text,
                  "message": _text(payload.get("message")) if isinstance(payload, dict) else None},
                 "negative_balance_guards")
