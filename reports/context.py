"""What every report needs, built once per `reports.build` call: database, settings, filters, privacy."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import Engine

from errors import UsageError
from queries.pseudonym import scrub, user_mapper
from reports import cells
from reports.columns import COLUMNS
from reports.queries import Filters
from settings import Settings, redact_url

USER_COLUMNS = frozenset({"user_id"})
FREE_TEXT_COLUMNS = frozenset({"explanation", "text", "payload", "metadata", "parameters", "extra_fields",
                               "review_note"})


@dataclasses.dataclass
class Context:
    engine: Engine
    settings: Settings
    out_dir: Path
    filters: Filters
    pseudonymise: bool = False
    generated_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))
    user: Callable = dataclasses.field(init=False)

    def __post_init__(self):
        key = self.settings.get("PSEUDONYMISE_KEY") or ""
        if self.pseudonymise and not key:
            raise UsageError("--pseudonymise needs a key: set PSEUDONYMISE_KEY (any long random text) in .env or "
                             "the environment")
        self.user = user_mapper(key if self.pseudonymise else None)
        self.precision = self.settings.currency_precision

    @property
    def database(self) -> str:
        return redact_url(str(self.settings.database_url))

    @property
    def generated_text(self) -> str:
        return self.generated_at.strftime("%Y-%m-%d %H:%M UTC")

    def money(self, micros, currency):
        return cells.money(micros, currency, self.precision)

    def private(self, row: dict) -> dict:
        """The row with user ids pseudonymised (in their columns and inside its free text), when asked for."""
        if not self.pseudonymise:
            return row
        out = dict(row)
        uid = row.get("user_id")
        token = self.user(uid)
        for name in out:
            if name in USER_COLUMNS:
                out[name] = self.user(out[name])
            elif name in FREE_TEXT_COLUMNS and uid:
                out[name] = scrub(out[name], uid, token)
        return out

    def csv_row(self, row: dict, columns: Sequence[str]) -> list:
        """Values for a CSV line: money quantized to the row's currency, everything else as stored."""
        row = self.private(row)
        currency = row.get("currency")
        out = []
        for name in columns:
            value = row.get(name)
            if value is not None and COLUMNS[name].kind == "money":
                value = self.money(value, currency)
            elif COLUMNS[name].kind == "bool" and value is not None:
                value = bool(value)
            out.append(value)
        return out
