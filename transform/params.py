"""The transform settings, read once from Settings and checked, as bound parameters.

Every threshold lives in settings.SETTINGS (name, default, one line of help);
docs/transforms.md explains what each does. SQL files see them as `:name`
bound parameters; lists become expanding `IN :name` parameters.
"""
from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from fractions import Fraction

from db.money import SCALE
from settings import Settings, SettingsError

# what a build reads (python -m transform and ingest.py offer a flag for each)
SETTINGS_USED = ("DATABASE_URL", "BUSINESS_TZ", "BALANCE_TOLERANCE", "CURRENCY_PRECISION", "VAT_RATES",
                 "VAT_TOLERANCE_UNITS", "VAT_SOURCES", "AMOUNT_SPIKE_THRESHOLD", "AMOUNT_SPIKE_MIN_SAMPLES",
                 "AMOUNT_SPIKE_MIN_RATIO", "FREQUENT_DISCREPANCY_COUNT", "FREQUENT_DISCREPANCY_DAYS", "KNOWN_ACTIONS",
                 "ACTION_TYPO_DISTANCE", "RAPID_DEDUCTION_SECONDS", "BURST_MS", "BUSINESS_HOURS", "BUSINESS_WEEKEND",
                 "MANUAL_SOURCES", "AUTOMATED_ACTIONS", "TEST_USER_IDS", "ERROR_DAY_THRESHOLD", "ERROR_DAY_MIN_COUNT")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # index = local_weekday() in dialect.py


def _list(text: str | None, upper: bool = True) -> tuple[str, ...]:
    items = (p.strip() for p in (text or "").split(","))
    return tuple(dict.fromkeys((p.upper() if upper else p) for p in items if p))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.strip().split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 24 * 60:
        raise ValueError(hhmm)
    return value


@dataclasses.dataclass(frozen=True)
class Params:
    tolerance: Decimal
    precision: dict[str, int]
    vat_rates: dict[str, Fraction]
    vat_tolerance_units: Decimal
    spike_threshold: Decimal
    spike_min_samples: int
    spike_min_ratio: Decimal
    frequent_count: int
    frequent_days: int
    known_actions: tuple[str, ...]
    typo_distance: int
    rapid_seconds: int
    burst_ms: int
    work_start_min: int
    work_end_min: int
    weekend: tuple[int, ...]
    manual_sources: tuple[str, ...]
    vat_sources: tuple[str, ...]
    automated_actions: tuple[str, ...]
    test_user_ids: tuple[str, ...]
    error_day_threshold: Decimal
    error_day_min_count: int
    business_tz: str

    @property
    def tolerance_micros(self) -> int:
        return int(self.tolerance * SCALE)

    def bind(self) -> dict:
        """The values the SQL files may refer to as :name."""
        return {
            "tolerance_micros": self.tolerance_micros,
            "frequent_count": self.frequent_count,
            "frequent_window_ms": self.frequent_days * 86_400_000,
            "rapid_window_ms": self.rapid_seconds * 1000,
            "burst_ms": self.burst_ms,
            "work_start_min": self.work_start_min,
            "work_end_min": self.work_end_min,
            "weekend_days": list(self.weekend),
            "manual_sources": list(self.manual_sources),
            "vat_sources": list(self.vat_sources),
            "automated_actions": list(self.automated_actions),
            "test_user_ids": list(self.test_user_ids),
            "uuid_shape": "________-____-____-____-____________",
            **{f"params_{name}": json.dumps(value, separators=(",", ":"), sort_keys=True)
               for name, value in self.detector_parameters().items()},
        }

    def detector_parameters(self) -> dict[str, dict]:
        """Per detector, the settings it used (stored as `anomalies.parameters`)."""
        return {
            "amount_spike": {"threshold": str(self.spike_threshold), "min_samples": self.spike_min_samples,
                             "min_ratio": str(self.spike_min_ratio)},
            "frequent_discrepancies": {"count": self.frequent_count, "days": self.frequent_days},
            "vat_mismatch": {"tolerance_units": str(self.vat_tolerance_units), "vat_sources": list(self.vat_sources),
                             "balance_tolerance": str(self.tolerance)},
            "unknown_action": {"typo_distance": self.typo_distance},
            "duplicate_transaction": {},
            "rapid_deduction": {"window_seconds": self.rapid_seconds},
            "burst": {"window_ms": self.burst_ms},
            "off_hours_manual": {"business_hours": f"{self.work_start_min // 60:02d}:{self.work_start_min % 60:02d}-"
                                                  f"{self.work_end_min // 60:02d}:{self.work_end_min % 60:02d}",
                                 "weekend": [WEEKDAYS[d] for d in self.weekend],
                                 "business_tz": self.business_tz,
                                 "manual_sources": list(self.manual_sources),
                                 "automated_actions": list(self.automated_actions)},
            "float_noise": {},
            "multi_currency": {},
            "test_user": {"test_user_ids": list(self.test_user_ids)},
            "negative_amount": {},
            "continuity_gap": {"tolerance": str(self.tolerance)},
            "error_day": {"threshold": str(self.error_day_threshold), "min_count": self.error_day_min_count},
        }


def from_settings(settings: Settings) -> Params:
    get = settings.get
    name = "?"
    try:
        name = "VAT_TOLERANCE_UNITS"
        vat_tolerance = Decimal(get(name, "0.5"))
        name = "AMOUNT_SPIKE_THRESHOLD"
        spike_threshold = Decimal(get(name, "3.5"))
        name = "AMOUNT_SPIKE_MIN_SAMPLES"
        spike_min = int(get(name, "8"))
        name = "AMOUNT_SPIKE_MIN_RATIO"
        spike_ratio = Decimal(get(name, "3"))
        name = "FREQUENT_DISCREPANCY_COUNT"
        frequent_count = int(get(name, "3"))
        name = "FREQUENT_DISCREPANCY_DAYS"
        frequent_days = int(get(name, "7"))
        name = "ACTION_TYPO_DISTANCE"
        typo = int(get(name, "2"))
        name = "RAPID_DEDUCTION_SECONDS"
        rapid = int(get(name, "300"))
        name = "BURST_MS"
        burst = int(get(name, "1000"))
        name = "BUSINESS_HOURS"
        start, _, end = (get(name, "08:00-18:00") or "").partition("-")
        work_start, work_end = _minutes(start), _minutes(end)
        name = "BUSINESS_WEEKEND"
        weekend = tuple(WEEKDAYS.index(d[:3]) for d in _list(get(name, "fri,sat"), upper=False))
        name = "ERROR_DAY_THRESHOLD"
        error_threshold = Decimal(get(name, "3.5"))
        name = "ERROR_DAY_MIN_COUNT"
        error_min = int(get(name, "5"))
        name = "BALANCE_TOLERANCE"
        tolerance = settings.tolerance
        if tolerance < 0 or tolerance * SCALE != int(tolerance * SCALE):
            raise ValueError(tolerance)
    except (ValueError, ArithmeticError):
        raise SettingsError(f"{name}={get(name)!r} cannot be read; see docs/transforms.md") from None
    return Params(
        tolerance=tolerance, precision=settings.currency_precision,
        vat_rates={k: Fraction(v) for k, v in settings.vat_rates.items()},
        vat_tolerance_units=vat_tolerance, spike_threshold=spike_threshold, spike_min_samples=spike_min,
        spike_min_ratio=spike_ratio, frequent_count=frequent_count, frequent_days=frequent_days,
        known_actions=_list(get("KNOWN_ACTIONS")), typo_distance=typo, rapid_seconds=rapid, burst_ms=burst,
        work_start_min=work_start, work_end_min=work_end, weekend=weekend,
        manual_sources=_list(get("MANUAL_SOURCES")), vat_sources=_list(get("VAT_SOURCES")), automated_actions=_list(get("AUTOMATED_ACTIONS")),
        test_user_ids=_list(get("TEST_USER_IDS"), upper=False), error_day_threshold=error_threshold,
        error_day_min_count=error_min, business_tz=settings["BUSINESS_TZ"])
