"""Alerts against a real local HTTP server (the Slack webhook) and a real local SMTP server (aiosmtpd).

No mocks of our code: send_new runs on the fixture database, talks HTTP and
SMTP over loopback sockets, and alert_state is read back from the database.
Only `sleep` is replaced, so backoff is checked without waiting.
"""
from __future__ import annotations

import email
import http.server
import json
import socket
import threading
from datetime import datetime, timezone
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import delete, insert, select, text

import settings as settings_mod
from alerts import Backoff, send_new
from alerts.channels import slack_escape
from db.engine import make_engine
from db.schema import alert_state
from test_reports_fixture import FORMULA_USER, T_ANOMALIES, T_DISCREPANCY_REPORT, build_fixture

NOW = datetime(2024, 1, 16, 6, 0, tzinfo=timezone.utc)
DASH = "http://dash.example"
FAST = Backoff(attempts=4, first_delay=1.0, max_total_delay=30.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Webhook:
    """A local stand-in for Slack's incoming webhook: records JSON posts, answers `status`."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"invalid_payload")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def smtp_server():
    box = Mailbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"alerts" and auth_data.password == b"s3cret"
        if ok:
            box.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    controller = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def alert_db(database_url):
    return build_fixture(database_url)


@pytest.fixture
def engine(alert_db):
    eng = make_engine(alert_db)
    yield eng
    eng.dispose()


def make(alert_db, **values):
    return settings_mod.load(env_file="/dev/null", DATABASE_URL=alert_db, DASHBOARD_URL=DASH, **values)


def slack_and_email(alert_db, webhook, smtp_server, **extra):
    return make(alert_db, SLACK_WEBHOOK_URL=webhook.url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port),
                SMTP_STARTTLS="false", SMTP_USER="alerts", SMTP_PASSWORD="s3cret",
                ALERT_EMAIL_FROM="balance-logs@example.com", ALERT_EMAIL_TO="ops@example.com, cfo@example.com",
                **extra)


def state_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(alert_state).order_by(alert_state.c.channel,
                                                                            alert_state.c.fingerprint)).mappings()]


EXPECTED_OVERDRAFTS = [  # most severe first, then overdrafts, discrepancies, anomalies, by fingerprint
    "[high] New overdraft: user user-c is at -3.000 BHD after transaction T03 on 2024-01-10 (reason: actual) "
    "http://dash.example/ledger/user-c?cur=BHD",
    "[high] New overdraft: user user-b is at -50.00 SAR after transaction T04 on 2024-01-08 (reason: actual) "
    "http://dash.example/ledger/user-b?cur=SAR",
    f"[high] New overdraft: user {FORMULA_USER} is at -2.00 SAR after transaction T08 on 2024-01-10 "
    "(reason: actual) http://dash.example/ledger/%3DHYPERLINK%28%22http%3A%2F%2Fevil.example%22%2C%22x%22%29?cur=SAR",
]


def test_each_finding_is_alerted_once_on_slack_and_by_email(engine, alert_db, webhook, smtp_server):
    settings = slack_and_email(alert_db, webhook, smtp_server)
    summary = send_new(engine, settings, now=NOW, backoff=FAST)
    assert summary["status"] == "ok", summary
    assert summary["new"] == {"slack": 6, "email": 6}
    assert summary["channels"]["slack"]["sent"] == summary["channels"]["email"]["sent"] == 6

    [mail] = smtp_server.messages
    # (the calculation break T07 is resolved, so no discrepancy is high and open)
    subject = "balance-logs: 6 new findings (4 overdrafts, 2 anomalies)"
    assert mail["Subject"] == subject
    lines = mail.get_content().splitlines()
    assert len(lines) == 6
    assert [line for line in lines if line in EXPECTED_OVERDRAFTS] == EXPECTED_OVERDRAFTS
    assert lines[5] == (
        "[high] New high anomaly (large_amount): user user-b, 115.00 SAR on 2024-01-08: 115.00 SAR is 4.2 times "
        "the user's usual debit http://dash.example/anomalies?from=2024-01-08&to=2024-01-08&cur=SAR&user=user-b"
        "&detector=large_amount&severity=high")

    [post] = webhook.posts  # the same text, escaped for Slack (&amp; in links is decoded back by Slack)
    assert post["text"] == f"*{subject}*\n" + slack_escape("\n".join(lines))
    assert mail["To"] == "ops@example.com, cfo@example.com"
    assert mail["From"] == "balance-logs@example.com"
    assert smtp_server.logins == ["alerts"]

    rows = state_rows(engine)
    assert len(rows) == 12 and all(r["sent"] and r["attempts"] == 1 for r in rows)
    assert {r["sent_at"] for r in rows} == {"2024-01-16T06:00:00.000Z"}

    again = send_new(engine, settings, now=NOW, backoff=FAST)
    assert again["new"] == {"slack": 0, "email": 0}
    assert again["channels"] == {"slack": {"sent": 0, "pending": 0}, "email": {"sent": 0, "pending": 0}}
    assert len(webhook.posts) == 1 and len(smtp_server.messages) == 1


def test_a_wallet_going_below_zero_is_a_new_overdraft(engine, alert_db, webhook):
    from db.schema import balance_events
    with engine.begin() as conn:  # user-a's wallet goes negative while the subscription balance stays positive
        row = dict(conn.execute(select(balance_events).where(balance_events.c.transaction_id == "T09")).mappings().one())
        conn.execute(insert(balance_events), [{
            **row, "transaction_id": "T12", "ts": "2024-01-15T08:00:00.000Z", "ts_ms": row["ts_ms"] + 3_600_000,
            "event_id": 99, "old_balance": 79_000_000, "new_balance": 78_000_000, "payment_balance": -4_500_000,
            "is_overdraft_wallet": True, "is_overdraft_crossing": False, "overdraft_reason": "wallet"}])
    summary = send_new(engine, make(alert_db, SLACK_WEBHOOK_URL=webhook.url), now=NOW, backoff=FAST)
    assert summary["new"] == {"slack": 7}
    assert ("[high] New negative wallet: user user-a has a payment balance of -4.500 BHD after transaction T12 on "
            "2024-01-15 (subscription balance 78.000 BHD) http://dash.example/ledger/user-a?cur=BHD"
            ) in webhook.posts[0]["text"].splitlines()


def test_slack_text_is_escaped_so_log_data_cannot_ping_or_link(engine, alert_db, webhook):
    with engine.begin() as conn:
        conn.execute(text("UPDATE anomalies SET explanation = '<!channel> & <http://x|click>' WHERE anomaly_id = 'A1'"))
    send_new(engine, make(alert_db, SLACK_WEBHOOK_URL=webhook.url), now=NOW, backoff=FAST)
    body = webhook.posts[0]["text"]
    assert "&lt;!channel&gt; &amp; &lt;http://x|click&gt;" in body and "<!channel>" not in body


def test_rebuilt_tables_do_not_realert_and_a_new_finding_goes_alone(engine, alert_db, webhook):
    settings = make(alert_db, SLACK_WEBHOOK_URL=webhook.url)
    send_new(engine, settings, now=NOW, backoff=FAST)
    with engine.begin() as conn:  # what a transform rebuild does: same findings, new ids, plus one new anomaly
        rows = [dict(r) for r in conn.execute(select(T_DISCREPANCY_REPORT)).mappings()]
        conn.execute(delete(T_DISCREPANCY_REPORT))
        conn.execute(insert(T_DISCREPANCY_REPORT), [{**r, "discrepancy_id": "X" + r["discrepancy_id"]} for r in rows])
        conn.execute(insert(T_ANOMALIES), [{
            "anomaly_id": "A9", "fingerprint": "fp-new", "detector": "rapid_deduction", "severity": "high",
            "user_id": "user-a", "currency": "BHD", "transaction_id": "T09", "detected_at": "2024-01-15T07:00:00.000Z",
            "business_date": "2024-01-15", "score": 5.0, "amount": 1_000_000, "parameters": "{}",
            "explanation": "two equal debits within 300 s", "file_id": 1, "line_no": 1}])
    summary = send_new(engine, settings, now=NOW, backoff=FAST)
    assert summary["new"] == {"slack": 1}
    assert webhook.posts[-1]["text"].splitlines() == [
        "*balance-logs: 1 new finding (1 anomaly)*",
        "[high] New high anomaly (rapid_deduction): user user-a, 1.000 BHD on 2024-01-15: two equal debits within "
        "300 s http://dash.example/anomalies?from=2024-01-15&amp;to=2024-01-15&amp;cur=BHD&amp;user=user-a"
        "&amp;detector=rapid_deduction&amp;severity=high"]


def test_failed_send_backs_off_then_is_retried_on_the_next_run(engine, alert_db, webhook):
    settings = make(alert_db, SLACK_WEBHOOK_URL=webhook.url)
    webhook.status = 500
    waits: list[float] = []
    summary = send_new(engine, settings, now=NOW, backoff=FAST, sleep=waits.append)
    assert summary["status"] == "failed"
    assert summary["channels"]["slack"]["error"] == "SendError: Slack webhook answered HTTP 500 Internal Server Error"
    assert waits == [1.0, 2.0, 4.0] and len(webhook.posts) == 4
    rows = state_rows(engine)
    assert all(not r["sent"] and r["attempts"] == 4 for r in rows)
    assert rows[0]["last_error"] == "SendError: Slack webhook answered HTTP 500 Internal Server Error"
    assert webhook.url not in json.dumps(summary)  # the webhook URL is a secret: never in logs or state

    webhook.status = 200
    later = datetime(2024, 1, 16, 6, 15, tzinfo=timezone.utc)
    summary = send_new(engine, settings, now=later, backoff=FAST, sleep=waits.append)
    assert summary["status"] == "ok" and summary["new"] == {"slack": 0}
    assert summary["channels"]["slack"]["sent"] == 6
    assert len(webhook.posts[-1]["text"].splitlines()) == 7
    rows = state_rows(engine)
    assert all(r["sent"] and r["attempts"] == 5 and r["last_error"] is None for r in rows)
    assert {r["sent_at"] for r in rows} == {"2024-01-16T06:15:00.000Z"}


def test_backoff_total_wait_is_capped():
    assert list(Backoff(attempts=10, first_delay=1, max_total_delay=7).delays()) == [1, 2, 4]
    assert list(Backoff(attempts=3, first_delay=0.5, max_total_delay=60).delays()) == [0.5, 1.0]


def test_unreachable_mail_server_is_logged_and_never_raises(engine, alert_db, caplog):
    settings = make(alert_db, SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_STARTTLS="false",
                    ALERT_EMAIL_TO="ops@example.com", SMTP_PASSWORD="hunter2")
    summary = send_new(engine, settings, now=NOW, backoff=Backoff(attempts=2, first_delay=0), sleep=lambda s: None)
    assert summary["status"] == "failed"
    assert summary["channels"]["email"]["error"].startswith("SendError: mail server 127.0.0.1:")
    assert "unreachable" in summary["channels"]["email"]["error"]
    assert "not sent after 2 tries, will retry on the next run" in caplog.text
    assert "hunter2" not in caplog.text


def test_min_severity_medium_adds_medium_findings(engine, alert_db, webhook):
    summary = send_new(engine, make(alert_db, SLACK_WEBHOOK_URL=webhook.url, ALERT_MIN_SEVERITY="medium"),
                       now=NOW, backoff=FAST)
    # + the six open issues (medium: four out-of-sync episodes, a continuity break, an untied error), once each
    # however many transactions an episode has, and the burst anomaly (medium)
    assert summary["new"] == {"slack": 13}
    lines = webhook.posts[0]["text"].splitlines()
    issues = [line for line in lines if " discrepancy: " in line]
    assert len(issues) == 6
    assert ("[medium] New out of sync discrepancy: user user-d, 3.000 BHD at stake since 2023-12-29 "
            "(out_of_sync:T14): Transaction T14 left the subscription balance at 15.000 BHD and the payment wallet "
            "at 12.000 BHD (a gap of 3.000 BHD). Still apart at the user's latest transaction. "
            "http://dash.example/reconciliation?from=2023-12-29&amp;to=2023-12-29&amp;cur=BHD&amp;user=user-d"
            "&amp;kind=out_of_sync&amp;status=open") in issues


def test_no_channel_configured_means_alerts_are_off(engine, alert_db):
    assert send_new(engine, make(alert_db), now=NOW) == {"status": "off", "new": {}, "channels": {}}
    assert state_rows(engine) == []


def test_a_database_without_derived_tables_never_raises(tmp_path, webhook):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    eng = make_engine(url)
    try:
        summary = send_new(eng, make(url, SLACK_WEBHOOK_URL=webhook.url), now=NOW, backoff=FAST)
        with eng.connect() as conn:  # migrated on the way: the state table is there for the next run
            assert conn.execute(text("SELECT COUNT(*) FROM alert_state")).scalar_one() == 0
    finally:
        eng.dispose()
    assert summary["status"] == "error"
    assert summary["error"].startswith("OperationalError: (sqlite3.OperationalError) no such table: ")
    assert webhook.posts == []
