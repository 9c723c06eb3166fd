"""The five tabs, in navigation order. Each module holds its layout and callbacks; ids start with its name."""
from __future__ import annotations

import dataclasses
from types import ModuleType

from app.tabs import anomalies, health, overdrafts, reconciliation, trends


@dataclasses.dataclass(frozen=True)
class Tab:
    name: str
    label: str
    module: ModuleType

    @property
    def path(self) -> str:
        return "/" + self.name


TABS = (
    Tab("trends", "Transaction Trends", trends),
    Tab("overdrafts", "Overdraft Detection", overdrafts),
    Tab("reconciliation", "Reconciliation", reconciliation),
    Tab("anomalies", "Anomaly Detection", anomalies),
    Tab("health", "Skipped Events / System Health", health),
)
DEFAULT = TABS[0]


def tab_for_path(pathname: str | None) -> Tab | None:
    """The tab a path shows: `/` and `/trends` are Transaction Trends; None for anything else."""
    path = (pathname or "/").rstrip("/") or "/"
    if path == "/":
        return DEFAULT
    return next((t for t in TABS if t.path == path), None)
