"""`SampleStats`: what a generated export contains, as `generate` returns it."""
from __future__ import annotations

import dataclasses
from decimal import Decimal


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
    # Deliberately injected faults, by transaction id (see sample.ledger.faults for each).
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
    # With --truth: sync blocks logged again by a redelivered message (same transaction id), and the truth file
    redelivered_copies: int = 0
    truth_path: str = ""
    truth_counts: dict[str, int] = dataclasses.field(default_factory=dict)   # findings listed per kind
    seconds: float = 0.0

    def as_json(self) -> dict:
        """Plain JSON-able dict (Decimals as strings)."""
        out = dataclasses.asdict(self)
        for key in ("amount_by_currency", "vat_by_currency"):
            out[key] = {k: str(v) for k, v in out[key].items()}
        return out
