"""What is worth an alert: new overdrafts, and discrepancies and anomalies at or above ALERT_MIN_SEVERITY.

Each finding has a fingerprint that survives rebuilds of the derived tables
(transaction ids, discrepancy ids and anomaly fingerprints are the same in every
rebuild), so alert_state can remember it was alerted:

- overdraft:<transaction_id>: a transaction that took a balance from zero or
  above to below zero (`is_overdraft_crossing`); always alerted. Likewise
  overdraft-wallet:<transaction_id> when the payment wallet went below zero.
- discrepancy:<discrepancy_id>: an open issue, once (an out-of-sync episode is
  alerted when it opens, not again for each transaction while it lasts), with a
  severity by kind (DISCREPANCY_SEVERITY: a calculation mismatch means the
  Lambda wrote a wrong balance, so it is high; the others are medium because
  they are usually explained or caught up later).
- anomaly:<fingerprint>: an anomaly with the detector's own severity.
"""
from __future__ import annotations

import dataclasses
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.engine import Connection

from db.money import money
from queries import tables as t
from settings import Settings
from vocabulary import SEVERITIES

DISCREPANCY_SEVERITY = {"calculation": "high", "continuity": "medium", "out_of_sync": "medium",
                        "untied_error": "medium"}


@dataclasses.dataclass(frozen=True)
class Finding:
    fingerprint: str
    kind: str  # overdraft | discrepancy | anomaly
    severity: str
    business_date: str
    line: str  # what, who, how much, and the dashboard link, in one line of plain text


def severity_at_least(minimum: str) -> tuple[str, ...]:
    minimum = minimum if minimum in SEVERITIES else "high"
    return SEVERITIES[SEVERITIES.index(minimum):]


def dashboard_link(base: str, view: str, **params) -> str:
    """A link to a dashboard view (paths and parameters as in app/urlstate.py)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return base.rstrip("/") + view + (f"?{query}" if query else "")


def ledger_link(base: str, user_id: str | None, currency: str | None) -> str:
    if not user_id:
        return dashboard_link(base, "/overdrafts")
    return dashboard_link(base, "/ledger/" + quote(user_id, safe=""), cur=currency)


def _amount(micros, currency, precision) -> str:
    value = money(micros, currency, precision)
    return "an unknown amount" if value is None else f"{value:,} {currency or ''}".strip()


USERS_PER_QUERY = 500


def _wallet_crossings(conn: Connection) -> list[dict]:
    """Transactions after which a user's payment wallet went below zero while the one before was not
    (and the balance did not cross zero with it: that is alerted as an overdraft).

    transform/ flags a balance crossing zero (`is_overdraft_crossing`) but not the wallet; the dashboard counts
    negative wallets as overdrafts too. One plain scan finds the users whose wallet was ever negative, then
    their transactions are read in time order through the user index, a chunk of users at a time.
    """
    be = t.balance_events
    users = sorted(set(conn.execute(select(be.c.user_id).where(be.c.is_overdraft_wallet.is_(True),
                                                                 be.c.user_id.isnot(None))).scalars()))
    out = []
    for start in range(0, len(users), USERS_PER_QUERY):
        stmt = (select(be.c.transaction_id, be.c.user_id, be.c.currency, be.c.business_date, be.c.new_balance,
                       be.c.payment_balance, be.c.is_overdraft_wallet, be.c.is_overdraft_crossing)
                .where(be.c.user_id.in_(users[start:start + USERS_PER_QUERY]), be.c.payment_balance.isnot(None))
                .order_by(be.c.user_id, be.c.ts, be.c.transaction_id))
        below: dict[tuple, bool] = {}  # (user, currency) -> was the wallet below zero after the previous one
        for r in conn.execute(stmt).mappings():
            key = (r["user_id"], r["currency"])
            now_below = bool(r["is_overdraft_wallet"])
            if now_below and not below.get(key, False) and not r["is_overdraft_crossing"]:
                out.append(dict(r))
            below[key] = now_below
    return out


def collect(conn: Connection, settings: Settings) -> list[Finding]:
    """Every current finding that qualifies for an alert (alert_state decides which are new)."""
    precision, base = settings.currency_precision, settings["DASHBOARD_URL"]
    wanted = severity_at_least((settings.get("ALERT_MIN_SEVERITY") or "high").strip().lower())
    out: list[Finding] = []

    be = t.balance_events
    for r in conn.execute(select(be.c.transaction_id, be.c.user_id, be.c.currency, be.c.business_date,
                                 be.c.new_balance, be.c.payment_balance, be.c.overdraft_reason)
                          .where(be.c.is_overdraft_crossing.is_(True)).order_by(be.c.ts)).mappings():
        out.append(Finding(
            f"overdraft:{r['transaction_id']}", "overdraft", "high", r["business_date"],
            f"New overdraft: user {r['user_id']} is at {_amount(r['new_balance'], r['currency'], precision)} "
            f"after transaction {r['transaction_id']} on {r['business_date']} (reason: {r['overdraft_reason']}) "
            f"{ledger_link(base, r['user_id'], r['currency'])}"))
    for r in _wallet_crossings(conn):
        out.append(Finding(
            f"overdraft-wallet:{r['transaction_id']}", "overdraft", "high", r["business_date"],
            f"New negative wallet: user {r['user_id']} has a payment balance of "
            f"{_amount(r['payment_balance'], r['currency'], precision)} after transaction {r['transaction_id']} "
            f"on {r['business_date']} (subscription balance {_amount(r['new_balance'], r['currency'], precision)}) "
            f"{ledger_link(base, r['user_id'], r['currency'])}"))

    kinds = [k for k, sev in DISCREPANCY_SEVERITY.items() if sev in wanted]
    if kinds:
        dr = t.discrepancy_report
        for r in conn.execute(select(dr.c.discrepancy_id, dr.c.kind, dr.c.user_id, dr.c.currency,
                                     dr.c.business_date, dr.c.amount_at_stake, dr.c.explanation)
                              .where(dr.c.status == "open", dr.c.kind.in_(kinds))
                              .order_by(dr.c.first_seen_at, dr.c.discrepancy_id)).mappings():
            link = dashboard_link(base, "/reconciliation", **{"from": r["business_date"], "to": r["business_date"],
                                                                "cur": r["currency"], "user": r["user_id"],
                                                                "kind": r["kind"], "status": "open"})
            what = r["kind"].replace("_", " ")
            out.append(Finding(
                f"discrepancy:{r['discrepancy_id']}", "discrepancy", DISCREPANCY_SEVERITY[r["kind"]],
                r["business_date"],
                f"New {what} discrepancy: user {r['user_id']}, "
                f"{_amount(r['amount_at_stake'], r['currency'], precision)} at stake since {r['business_date']}"
                f" ({r['discrepancy_id']}): {r['explanation'] or ''} {link}".replace(":  ", ": ")))

    an = t.anomalies
    for r in conn.execute(select(an.c.fingerprint, an.c.detector, an.c.severity, an.c.user_id, an.c.currency,
                                 an.c.business_date, an.c.amount, an.c.explanation)
                          .where(an.c.severity.in_(wanted), an.c.fingerprint.isnot(None))
                          .order_by(an.c.detected_at)).mappings():
        link = dashboard_link(base, "/anomalies", **{"from": r["business_date"], "to": r["business_date"],
                                                      "cur": r["currency"], "user": r["user_id"],
                                                      "detector": r["detector"], "severity": r["severity"]})
        who = f"user {r['user_id']}" if r["user_id"] else "no single user"
        amount = f", {_amount(r['amount'], r['currency'], precision)}" if r["amount"] is not None else ""
        out.append(Finding(
            f"anomaly:{r['fingerprint']}", "anomaly", r["severity"], r["business_date"] or "",
            f"New {r['severity']} anomaly ({r['detector']}): {who}{amount} on {r['business_date']}: "
            f"{r['explanation'] or ''} {link}"))
    return out

