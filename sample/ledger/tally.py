"""Counts what each day logged into the SampleStats, and the exact per-currency sums at the end."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sample.plan import (
    ALREADY, ALREADY2, GUARD, GUARDED, INVOKE_ERROR, SKIP_CREATE, SKIP_FLAG, SKIP_WEB, SYNC, SYNC_ERROR, UNTIED_NIS,
    Message, Tx)
from sample.stats import SampleStats


class Tally:
    def __init__(self, stats: SampleStats):
        self.stats = stats
        self.printed: Counter = Counter()                         # (currency, amount, vat) -> blocks

    def count(self, messages: list[Message]) -> None:
        s = self.stats
        skips = Counter()
        for m in messages:
            if m.kind != INVOKE_ERROR:
                s.messages += 1
            if m.kind == SYNC and m.copy:
                s.redelivered_copies += 1   # a transaction logged again: counted once, under its first block
            elif m.kind == SYNC:
                self._count_tx(m.tx, skips)
            elif m.kind == UNTIED_NIS:
                s.not_in_sync += 1
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

    def _count_tx(self, tx: Tx, skips: Counter) -> None:
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

    def sum_amounts(self) -> None:
        """Exact per-currency sums of the printed amount and vat of every sync block."""
        s = self.stats
        for (code, amount, vat), count in sorted(self.printed.items()):
            s.transactions_by_currency[code] = s.transactions_by_currency.get(code, 0) + count
            s.amount_by_currency[code] = s.amount_by_currency.get(code, Decimal(0)) + Decimal(amount) * count
            s.vat_by_currency[code] = s.vat_by_currency.get(code, Decimal(0)) + Decimal(vat) * count
