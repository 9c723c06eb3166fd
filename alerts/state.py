"""alert_state: which finding was alerted on which channel, and what is still to send.

A finding gets one row per channel the first time it is seen (sent = false),
and is marked sent when a message carrying it was delivered. Rows still
unsent are what the next run retries.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from alerts.findings import Finding
from db.schema import alert_state as st
from db.writer import insert_rows

ERROR_CHARS = 500


def record_new(conn: Connection, channel: str, findings: Iterable[Finding], now: str) -> int:
    """Add the findings this channel has never seen; returns how many were new."""
    known = set(conn.execute(select(st.c.fingerprint).where(st.c.channel == channel)).scalars())
    fresh, seen = [], set()
    for f in findings:
        if f.fingerprint in known or f.fingerprint in seen:
            continue
        seen.add(f.fingerprint)
        fresh.append({"fingerprint": f.fingerprint, "channel": channel, "finding_kind": f.kind,
                      "severity": f.severity, "message": f.line, "first_seen_at": now, "sent": False,
                      "attempts": 0})
    return insert_rows(conn, st, fresh)


def pending(conn: Connection, channel: str) -> list[dict]:
    """Unsent findings of a channel, oldest first."""
    return [dict(r) for r in conn.execute(
        select(st.c.fingerprint, st.c.finding_kind, st.c.severity, st.c.message, st.c.attempts)
        .where(st.c.channel == channel, st.c.sent.is_(False))
        .order_by(st.c.first_seen_at, st.c.fingerprint)).mappings()]


def _where(channel: str, fingerprints: list[str]):
    return and_(st.c.channel == channel, st.c.fingerprint.in_(fingerprints))


def mark(conn: Connection, channel: str, fingerprints: list[str], now: str, tries: int,
         error: str | None) -> None:
    """After a send: sent (error None) or still pending with the error; attempts grows by `tries` either way."""
    for start in range(0, len(fingerprints), 500):  # stay under every database's parameter limit
        chunk = fingerprints[start:start + 500]
        values = {"attempts": st.c.attempts + tries, "last_attempt_at": now}
        if error is None:
            values.update(sent=True, sent_at=now, last_error=None)
        else:
            values.update(last_error=error[:ERROR_CHARS])
        conn.execute(update(st).where(_where(channel, chunk)).values(**values))


def counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Per channel: {'sent': n, 'pending': n} (for the summary and the logs)."""
    out: dict[str, dict[str, int]] = {}
    for channel, sent, n in conn.execute(select(st.c.channel, st.c.sent, func.count())
                                         .group_by(st.c.channel, st.c.sent)):
        out.setdefault(channel, {"sent": 0, "pending": 0})["sent" if sent else "pending"] += n
    return out
