"""Alerts: tell engineers when money goes wrong, once per finding, on Slack and by email.

`send_new(engine, settings)` is the hook ingest calls at the end of a run (and
the scheduler after each ingestion). It finds new overdrafts and new
discrepancies and anomalies at or above ALERT_MIN_SEVERITY (alerts/findings.py),
records each one per channel in `alert_state`, and sends every channel one
message with what is still unsent: what, who, how much and a link to the
dashboard view, most severe first. Sending is retried with exponential backoff
(alerts/retry.py); what still fails stays pending and is retried on the next
run. It never raises: whatever goes wrong is logged and reported in the
summary it returns, and ingestion carries on.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from alerts import channels as ch
from alerts import state
from alerts.findings import collect
from alerts.retry import Backoff, call_with_retries
from db.migrate import upgrade
from errors import first_line

__all__ = ["send_new", "Backoff"]

SETTINGS_USED = ("DATABASE_URL", "CURRENCY_PRECISION", "DASHBOARD_URL", "ALERT_MIN_SEVERITY", "SLACK_WEBHOOK_URL",
                 "SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS", "ALERT_EMAIL_FROM",
                 "ALERT_EMAIL_TO")

log = logging.getLogger("balance_logs.alerts")

MAX_LINES = 20  # findings listed one per line in a message; the rest are counted, with a link
_RANK = {"high": 0, "medium": 1, "low": 2}


def _iso(now: datetime) -> str:
    now = now.astimezone(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


KIND_ORDER = ("overdraft", "discrepancy", "anomaly")
PLURAL = {"overdraft": "overdrafts", "discrepancy": "discrepancies", "anomaly": "anomalies"}


def _counted(counts: Counter) -> str:
    return ", ".join(f"{n} {k if n == 1 else PLURAL[k]}" for k, n in
                     sorted(counts.items(), key=lambda kv: KIND_ORDER.index(kv[0])))


def compose(items: list[dict], dashboard_url: str) -> tuple[str, str]:
    """(subject, body) for the unsent findings of one channel: most severe first, at most MAX_LINES listed."""
    items = sorted(items, key=lambda i: (_RANK.get(i["severity"], 3), KIND_ORDER.index(i["finding_kind"]),
                                         i["fingerprint"]))
    subject = (f"balance-logs: {len(items)} new finding{'s' if len(items) > 1 else ''} "
               f"({_counted(Counter(i['finding_kind'] for i in items))})")
    lines = [f"[{i['severity']}] {i['message']}" for i in items[:MAX_LINES]]
    if len(items) > MAX_LINES:
        rest = Counter(i["finding_kind"] for i in items[MAX_LINES:])
        lines.append(f"… and {len(items) - MAX_LINES} more ({_counted(rest)}), all in the dashboard: {dashboard_url}")
    return subject, "\n".join(lines)


def send_new(engine: Engine, settings, *, now: datetime | None = None, backoff: Backoff = Backoff(),
             sleep: Callable[[float], None] = time.sleep) -> dict:
    """Alert every new finding once per configured channel; returns a summary and never raises."""
    summary: dict = {"status": "off", "new": {}, "channels": {}}
    try:
        channels = ch.configured(settings)
        if not channels:
            return summary
        stamp = _iso(now or datetime.now(timezone.utc))
        _ensure_table(engine)
        with engine.begin() as conn:
            findings = collect(conn, settings)
            for channel in channels:
                summary["new"][channel.name] = state.record_new(conn, channel.name, findings, stamp)
        summary["status"] = "ok"
        for channel in channels:
            result = _send_pending(engine, channel, settings, stamp, backoff, sleep)
            summary["channels"][channel.name] = result
            if result.get("error"):
                summary["status"] = "failed"
    except Exception as exc:  # the hook must never break ingestion
        log.exception("alerts: could not check or send alerts")
        summary.update(status="error", error=f"{exc.__class__.__name__}: {first_line(exc)}")
    return summary


def _send_pending(engine: Engine, channel, settings, stamp: str, backoff: Backoff, sleep) -> dict:
    with engine.connect() as conn:
        items = state.pending(conn, channel.name)
    if not items:
        return {"sent": 0, "pending": 0}
    subject, body = compose(items, settings["DASHBOARD_URL"])

    def failed(tries: int, exc: BaseException) -> None:
        log.warning("alerts: %s try %d failed: %s", channel.name, tries, exc)

    tries, error = call_with_retries(lambda: channel.send(subject, body), backoff, Exception, sleep, failed)
    fingerprints = [i["fingerprint"] for i in items]
    message = None if error is None else f"{error.__class__.__name__}: {error}"
    with engine.begin() as conn:
        state.mark(conn, channel.name, fingerprints, stamp, tries, message)
    if error is None:
        log.info("alerts: %s: sent %d finding(s) in one message", channel.name, len(items))
        return {"sent": len(items), "pending": 0, "tries": tries}
    log.error("alerts: %s: %d finding(s) not sent after %d tries, will retry on the next run: %s",
              channel.name, len(items), tries, message)
    return {"sent": 0, "pending": len(items), "tries": tries, "error": message}


def _ensure_table(engine: Engine) -> None:
    """alert_state arrives with migration 0002; upgrade a database that predates it."""
    if "alert_state" not in inspect(engine).get_table_names():
        upgrade(engine)
