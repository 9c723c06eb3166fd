"""Data shared by the parts of the sample generator: currencies, planned messages and the stats.

The ledger (ingest.sample_ledger) decides *what* happens each day and produces a
`DayPlan`; the stream writer (ingest.sample_streams) decides *how* it is logged
(invocations, streams, timings, bytes). `SampleStats` is what `generate` returns.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

# --- currencies --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Currency:
    code: str
    places: int                 # decimals of the currency (amounts are printed with at most this many)
    vat_rate: Decimal           # applied to PAYMENT credits and REFUND debits
    user_weight: float          # share of users holding this currency (from the real export)
    scale: Decimal              # price level relative to BHD, to reuse one table of typical amounts
    daily_prices: tuple[tuple[str, float], ...]  # (per-delivery deduction, weight), as seen in the export

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.places)


CURRENCIES: dict[str, Currency] = {c.code: c for c in (
    Currency("BHD", 3, Decimal("0.10"), 62.5, Decimal(1),
             (("8", 40), ("9", 35), ("4", 6), ("10", 3), ("5", 1.2), ("8.25", 1), ("7", 1), ("6", 1),
              ("9.5", 1), ("10.5", 1))),
    Currency("SAR", 2, Decimal("0.15"), 32.8, Decimal(10),
             (("90", 61), ("81", 7), ("76.5", 6), ("100", 5.5), ("42", 2), ("60", 2), ("39.9", 1.8),
              ("86.09", 1.7), ("47", 1.6), ("95.65", 1.4), ("70", 1.1), ("37.8", 1.1))),
    Currency("AED", 2, Decimal("0.05"), 2.0, Decimal(10),
             (("107", 58), ("82", 24), ("117", 11), ("72", 4.5), ("60", 2.5))),
    Currency("KWD", 3, Decimal("0"), 1.4, Decimal("0.8"),
             (("7.5", 73), ("8.5", 10), ("3.5", 10), ("9.5", 5))),
    Currency("QAR", 2, Decimal("0"), 1.3, Decimal(10),
             (("120", 94), ("130", 3), ("105", 3))),
)}

# Until the nightly batch of 2024-01-08 the not-in-sync ERROR printed the balance *before*
# the transaction as subscriptionBalance, from then on the balance *after* it (§8.6).
NIS_MEANING_SWITCH = datetime(2024, 1, 8, 21, 0, tzinfo=timezone.utc)
NIS_MEANING_SWITCH_MS = int(NIS_MEANING_SWITCH.timestamp() * 1000)

# Message kinds of a DayPlan (one SQS message each, except INVOKE_ERROR which has none).
SYNC = "sync"                  # Start syncing the balance … (outcome in Tx.outcome)
SYNC_ERROR = "sync_error"      # a failed attempt: stack trace + synBalanceError, redelivered later
SKIP_CREATE = "skip_create"
SKIP_WEB = "skip_web"
SKIP_FLAG = "skip_flag"
GUARD = "guard"                # negative-balance guard without a sync block
INVOKE_ERROR = "invoke_error"  # an invocation that fails before reading its batch

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


@dataclasses.dataclass(slots=True)
class DayPlan:
    index: int
    date: str                  # YYYY-MM-DD (UTC)
    messages: list[Message]


@dataclasses.dataclass
class SampleStats:
    """What a generated export contains, for tests that cross-check ingestion.

    Counts are over the `000000.gz` objects only (decompressed twins and junk files
    are not counted). Sums are exact Decimals of the printed `amount`/`vat` of every
    sync block (each transaction id is logged once), per currency.
    """
    out_dir: str = ""
    export_task: str = ""
    days: int = 0
    users: int = 0
    seed: int = 0
    start: str = ""
    # Not-in-sync ERRORs logged before this instant print the block's oldBalance as
    # subscriptionBalance, later ones its newBalance: 2024-01-08T21:00:00.000Z when the
    # range spans that change (§8.6), else the start (new meaning throughout).
    nis_switch_at: str = ""
    streams: int = 0
    events: int = 0
    invocations: int = 0
    messages: int = 0                # Processing message lines (redelivered attempts included)
    transactions: int = 0            # sync blocks = unique transaction ids
    legacy_transactions: int = 0
    not_in_sync: int = 0
    skips: int = 0                   # all skip / already-synced messages
    skips_by_kind: dict[str, int] = dataclasses.field(default_factory=dict)
    guards: int = 0                  # negative-balance guard objects (with and without a sync block)
    sync_errors: int = 0             # failed attempts (An error occured … + synBalanceError)
    invoke_errors: int = 0
    locks: int = 0
    metric_lines: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0
    out_of_order_files: int = 0
    twin_files: int = 0
    junk_files: int = 0
    transactions_by_currency: dict[str, int] = dataclasses.field(default_factory=dict)
    amount_by_currency: dict[str, Decimal] = dataclasses.field(default_factory=dict)
    vat_by_currency: dict[str, Decimal] = dataclasses.field(default_factory=dict)
    # Deliberately injected faults, by transaction id (see ingest.sample_ledger for each).
    # The user's block whose oldBalance ≠ the newBalance of their previous *applied* block:
    continuity_break_tx_ids: list[str] = dataclasses.field(default_factory=list)
    # Legacy blocks printed with vat 0 whose balance moved by amount / (1 + rate) (§8.5);
    # the only blocks where the balance rule fails:
    ledger_break_tx_ids: list[str] = dataclasses.field(default_factory=list)
    # Blocks followed by the negative-balance guard: printed newBalance < 0, balance unchanged
    # (the next block continues from this block's oldBalance):
    unapplied_tx_ids: list[str] = dataclasses.field(default_factory=list)
    # Transaction ids that appear only inside a guard object (no sync block at all):
    guard_only_tx_ids: list[str] = dataclasses.field(default_factory=list)
    # Applied blocks whose newBalance < 0:
    overdraft_tx_ids: list[str] = dataclasses.field(default_factory=list)
    # DEBIT blocks with a negative amount (the balance goes up):
    negative_amount_tx_ids: list[str] = dataclasses.field(default_factory=list)
    # SQS message ids logged more than once: failed attempts, then one success:
    redelivered_message_ids: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict:
        """Plain JSON-able dict (Decimals as strings)."""
        out = dataclasses.asdict(self)
        for key in ("amount_by_currency", "vat_by_currency"):
            out[key] = {k: str(v) for k, v in out[key].items()}
        return out
