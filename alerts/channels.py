"""Where alerts go: a Slack incoming webhook and SMTP email, each configured in .env.

A channel is on when its address is set (SLACK_WEBHOOK_URL; SMTP_HOST and
ALERT_EMAIL_TO). `send(subject, lines)` raises SendError with a message fit
for logs: it never contains the webhook URL or the SMTP password.
"""
from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from settings import Settings

TIMEOUT_SECONDS = 10
# Fold long header lines only at RFC 5322's hard limit: with the default 78, Python folds a long Subject
# straight after "Subject:", which some readers show with a leading space.
MAX_HEADER_LINE = 998


class SendError(RuntimeError):
    """Sending failed; the message says why (no secrets)."""


def slack_escape(text: str) -> str:
    """Slack's three control characters: text from the logs must never become a link or an @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Slack:
    name = "slack"

    def __init__(self, webhook_url: str):
        self.url = webhook_url

    def send(self, subject: str, body: str) -> None:
        payload = json.dumps({"text": f"*{slack_escape(subject)}*\n{slack_escape(body)}"}).encode("utf-8")
        request = urllib.request.Request(self.url, data=payload, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise SendError(f"Slack webhook answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SendError(f"Slack webhook unreachable: {reason}") from None
        if not 200 <= status < 300:
            raise SendError(f"Slack webhook answered HTTP {status}")


class Email:
    name = "email"

    def __init__(self, host: str, port: int, user: str, password: str, starttls: bool, sender: str,
                 recipients: list[str]):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.sender, self.recipients = starttls, sender, recipients

    def send(self, subject: str, body: str) -> None:
        msg = EmailMessage(policy=policy.SMTP.clone(max_line_length=MAX_HEADER_LINE))
        msg["Subject"], msg["From"], msg["To"] = subject, self.sender, ", ".join(self.recipients)
        msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid(domain="balance-logs")
        msg.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(msg)
        except smtplib.SMTPException as exc:
            raise SendError(f"mail server {self.host}:{self.port} refused: {exc.__class__.__name__}: "
                            f"{_first_line(exc)}") from None
        except OSError as exc:
            raise SendError(f"mail server {self.host}:{self.port} unreachable: {exc.strerror or exc}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def configured(settings: Settings) -> list:
    """The channels that have an address in the settings (none: alerts are off)."""
    out = []
    if (settings.get("SLACK_WEBHOOK_URL") or "").strip():
        out.append(Slack(settings["SLACK_WEBHOOK_URL"].strip()))
    recipients = [a.strip() for a in (settings.get("ALERT_EMAIL_TO") or "").split(",") if a.strip()]
    if (settings.get("SMTP_HOST") or "").strip() and recipients:
        out.append(Email(settings["SMTP_HOST"].strip(), int(settings.get("SMTP_PORT") or 587),
                         settings.get("SMTP_USER") or "", settings.get("SMTP_PASSWORD") or "",
                         _truthy(settings.get("SMTP_STARTTLS")), settings.get("ALERT_EMAIL_FROM") or "", recipients))
    return out
