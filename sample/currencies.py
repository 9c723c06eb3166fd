"""The five currencies of the export: decimals, VAT, share of users and typical daily prices."""
from __future__ import annotations

import dataclasses
from decimal import Decimal


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
