"""Build small ledgers straight into the ingest tables, for transform tests.

`LedgerDB` writes balance_events, not_in_sync_events, transaction_conflicts and
parsed_logs rows the way ingest would (money in micro-units, business dates in
+03:00, one fake ingested file for provenance), then `build()` runs the
transforms. Amounts are given as decimal strings, times as ISO UTC text.
"""
from __future__ import annotations

import itertools
from collections import Counter
import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import text

import settings as settings_mod
from db import schema as s
from db.engine import make_engine
from db.migrate import upgrade
from db.money import to_micros

BUSINESS_OFFSET = timedelta(hours=3)


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def micros(value) -> int | None:
    return None if value is None else to_micros(Decimal(str(value)))[0]


def when(ts: str) -> tuple[int, str]:
    at = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return int(at.timestamp() * 1000), (at + BUSINESS_OFFSET).date().isoformat()


class LedgerDB:
    def __init__(self, url: str, **settings_overrides):
        self.url = url
        self.settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=url, **settings_overrides)
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.ids = itertools.count(1)
        self.rows: dict[str, list[dict]] = {"balance_events": [], "not_in_sync_events": [],
                                            "transaction_conflicts": [], "parsed_logs": []}
        with self.engine.begin() as conn:
            conn.execute(s.ingested_files.insert(), {"file_id": 1, "path": "fixture.log", "content_hash": "x" * 64,
                                                     "status": "ok"})

    def tx(self, tid: str, user: str, ts: str, type_: str | None, amount, vat, old, new, payment="same", *,
           currency="BHD", source="MANUAL_DEDUCTION", action="DELIVERY_DEDUCTION", schema="full",
           float_noise=False, outcome=None) -> str:
        ts_ms, day = when(ts)
        event_id = next(self.ids)
        full = schema == "full"
        self.rows["balance_events"].append({
            "transaction_id": tid, "ts": ts, "ts_ms": ts_ms, "business_date": day, "user_id": user,
            "currency": currency, "type": type_, "type_inferred": not full, "schema": schema,
            "source": source if full else None, "action": action if full else None,
            "amount": micros(amount), "amount_text": str(amount), "vat": micros(vat), "vat_text": str(vat),
            "old_balance": micros(old), "old_balance_text": str(old),
            "new_balance": micros(new), "new_balance_text": str(new),
            "payment_balance": micros(new if payment == "same" else payment) if full else None,
            "payment_balance_text": None, "is_float_noise": float_noise, "update_payment_balance": True if full else None,
            "event_id": event_id, "file_id": 1, "line_no": event_id * 10, "outcome": outcome})
        self.log(ts, "sync", transaction_id=tid, user_id=user, event_id=event_id)
        return tid

    def not_in_sync(self, tid: str | None, user: str, ts: str, subscription, payment) -> None:
        ts_ms, day = when(ts)
        event_id = next(self.ids)
        self.rows["not_in_sync_events"].append({
            "event_id": event_id, "ts": ts, "ts_ms": ts_ms, "business_date": day, "transaction_id": tid,
            "user_id": user, "subscription_balance": micros(subscription), "payment_balance": micros(payment),
            "subscription_balance_meaning": "new_balance", "file_id": 1, "line_no": event_id * 10})
        self.log(ts, "not_in_sync", transaction_id=tid, user_id=user, event_id=event_id, level="ERROR")

    def conflict(self, tid: str, ts: str, kind: str) -> None:
        event_id = next(self.ids)
        self.rows["transaction_conflicts"].append({"transaction_id": tid, "kind": kind, "event_id": event_id,
                                                   "file_id": 1, "line_no": event_id * 10, "ts": ts,
                                                   "detail": None if kind == "duplicate" else '{"amount_text":1}'})

    def log(self, ts: str, kind: str, event_id: int | None = None, **extra) -> None:
        ts_ms, day = when(ts)
        event_id = event_id or next(self.ids)
        self.rows["parsed_logs"].append({"event_id": event_id, "file_id": 1, "line_no": event_id * 10, "ts": ts,
                                         "ts_ms": ts_ms, "business_date": day, "kind": kind, "parse_status": "ok",
                                         **extra})

    def build(self) -> dict:
        from transform import build_all
        tables = {t.name: t for t in s.INGEST_TABLES}
        # What ingest counts per file as it parses (ingest/loader.py prepare): here from the logged events.
        counts = Counter((r["file_id"], r["business_date"], r["kind"], r.get("detail"))
                         for r in self.rows["parsed_logs"])
        self.rows["file_event_counts"] = [
            {"file_id": f, "business_date": day, "kind": kind, "detail": detail, "count_events": n}
            for (f, day, kind, detail), n in counts.items()]
        with self.engine.begin() as conn:
            for name, rows in self.rows.items():
                if rows:
                    keys = sorted({k for r in rows for k in r})
                    conn.execute(tables[name].insert(), [{k: r.get(k) for k in keys} for r in rows])
                rows.clear()
        return build_all(self.engine, self.settings)

    def query(self, sql: str, **bind) -> list:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), bind)]

    def close(self) -> None:
        self.engine.dispose()
