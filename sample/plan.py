"""What the ledger hands the stream writer: one `DayPlan` per day, its messages and their transactions.

The ledger (sample.ledger) decides *what* happens each day and produces a `DayPlan`;
the stream writer (sample.streams) decides *how* it is logged (invocations, streams,
timings, bytes). Every printed number is already final here.
"""
from __future__ import annotations

import dataclasses

# Message kinds of a DayPlan (one SQS message each, except INVOKE_ERROR which has none).
SYNC = "sync"                  # Start syncing the balance … (outcome in Tx.outcome)
SYNC_ERROR = "sync_error"      # a failed attempt: stack trace + synBalanceError, redelivered later
SKIP_CREATE = "skip_create"
SKIP_WEB = "skip_web"
SKIP_FLAG = "skip_flag"
GUARD = "guard"                # negative-balance guard without a sync block
INVOKE_ERROR = "invoke_error"  # an invocation that fails before reading its batch
UNTIED_NIS = "untied_nis"      # a not-in-sync ERROR with no sync block before it (only with --truth)

# Outcomes of a sync block.
PUBLISHED = "published"        # SubscriptionBalanceUpdated event published
ALREADY = "already"            # Skipping the process, balance is already synced … (balance applied)
ALREADY2 = "already2"          # Balance is already synced from other listeners (balance applied)
GUARDED = "guarded"            # negative-balance guard after the block: balance NOT applied


@dataclasses.dataclass(slots=True)
class Tx:
    """One transaction as printed in a sync block (numbers already final)."""
    id: str
    legacy: bool
    kind: str                  # DEBIT / CREDIT (not printed in the legacy schema)
    source: str
    action: str
    user_id: str
    currency: str
    amount: str                # printed JS number
    vat: str                   # printed JS number
    old: float
    new: float
    payment: float             # paymentBalance (full schema only)
    metadata: str              # "json", "undefined" or "backtick"
    created_ms: int            # the ULID time
    outcome: str = PUBLISHED
    lock: bool = False
    nis: tuple[float, float] | None = None   # (subscriptionBalance, paymentBalance) of the ERROR
    nis_metric: bool = False   # subBalanceDiscrapancy EMF line after the ERROR
    keep_body: bool = False    # a redelivered copy repeats the block's text exactly (sample.ledger.cases)


@dataclasses.dataclass(slots=True)
class Message:
    """One SQS message (or, for INVOKE_ERROR, one failed invocation) of a day."""
    at_ms: int                 # when it becomes available to the function
    message_id: str
    kind: str
    night: bool = False
    tx: Tx | None = None
    guard: tuple[str, str, float] | None = None   # (userId, transactionId, currentBalance) for GUARD
    metric_action: str | None = None               # negativeBalance EMF action before a GUARD
    flag_action: str | None = None                 # for SKIP_FLAG
    copy: bool = False                             # a redelivered copy of a logged transaction (not counted again)
    nis: tuple[str, float, float] | None = None    # (userId, subscription, payment balance) for UNTIED_NIS


@dataclasses.dataclass(slots=True)
class DayPlan:
    index: int
    date: str                  # YYYY-MM-DD (UTC)
    messages: list[Message]
