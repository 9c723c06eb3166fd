"""What every callback needs: the settings, the engine, and how to show money."""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from sqlalchemy.engine import Engine

from db.money import format_money, from_micros, quantize
from settings import Settings, redact_url


@dataclasses.dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine

    @property
    def precision(self) -> dict[str, int]:
        return self.settings.currency_precision

    def money(self, micros, currency: str | None, with_currency: bool = False) -> str:
        """Micro-units -> '1,234.500' in the currency's precision (Decimal all the way, never float)."""
        return format_money(micros, currency, self.precision, with_currency)

    def exact(self, micros, currency: str | None) -> Decimal | None:
        """Micro-units -> Decimal rounded half-up to the currency's precision (for CSV and reports)."""
        return None if micros is None else quantize(from_micros(int(micros)), currency, self.precision)

    @staticmethod
    def plot_value(micros) -> float | None:
        # Chart boundary: plotly needs floats for the axis. The exact value is shown in the hover text,
        # formatted from Decimal; the float only places the point.
        return None if micros is None else float(from_micros(int(micros)) or Decimal(0))

    @property
    def database_label(self) -> str:
        return redact_url(self.settings.database_url)
