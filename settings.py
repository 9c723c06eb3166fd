"""Every setting of balance-logs, declared once.

Each setting has a name (the environment variable), a default and one line of
help. `.env` is read with python-dotenv; the environment wins over `.env`, and
a command-line flag wins over both. The CLI help, `.env.example` and the
README table are checked against this list by tests/test_settings.py.
"""
from __future__ import annotations

import dataclasses
import os
from datetime import timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from dotenv import dotenv_values

from errors import SettingsError

ROOT = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    # Where things are
    Setting("DATABASE_URL", "sqlite:///data/balance_logs.db",
            "SQLAlchemy URL of the database (sqlite:///… or postgresql+psycopg://…; an '@' in the password as %40)",
            secret=True),
    Setting("LOG_DIR", "data/logs", "folder (or file) of CloudWatch exports that ingest.py reads"),
    Setting("LOG_SOURCE", "",
            "what ingest.py without arguments and the scheduler read: a folder or file, an s3://BUCKET/PREFIX/ URL "
            "(an export task's objects) or log-group:NAME (the CloudWatch Logs API; e.g. log-group:/aws/lambda/NAME); "
            "empty: LOG_DIR"),
    # AWS (S3 and CloudWatch Logs sources): credentials come from the standard AWS chain (environment, shared
    # config and credentials files, instance or task role), never from a flag
    Setting("AWS_PROFILE", "", "profile of the shared AWS config and credentials files (empty: the default chain)"),
    Setting("AWS_REGION", "", "AWS region of the bucket and log group (empty: the profile's, or AWS_DEFAULT_REGION)"),
    Setting("AWS_ENDPOINT_URL", "",
            "endpoint of every AWS service: an S3-compatible store or a local test server (empty: AWS itself)"),
    Setting("AWS_ENDPOINT_URL_S3", "", "endpoint of S3 alone, before AWS_ENDPOINT_URL (empty: AWS_ENDPOINT_URL)"),
    Setting("REPORT_DIR", "data/reports", "folder where reports and scheduled outputs are written"),
    Setting("MAX_FILE_MB", "3",
            "most text read from one log file, in MB after decompression (a real export object holds well under "
            "1 MB); the rest of a longer file is not read and the file is recorded as damaged"),
    # Business rules
    Setting("BUSINESS_TZ", "+03:00",
            "business time zone for day boundaries: an offset like +03:00 or an IANA name like Asia/Riyadh"),
    Setting("BALANCE_TOLERANCE", "0.001", "largest ledger-identity difference still treated as equal"),
    Setting("CURRENCY_PRECISION", "BHD=3,KWD=3,OMR=3,SAR=2,AED=2,QAR=2",
            "decimal places shown per currency (ISO 4217 minor units)"),
    Setting("VAT_RATES", "BHD=0.10,SAR=0.15,AED=0.05,KWD=0,QAR=0", "VAT rate per currency"),
    # Transforms and anomaly detectors (transform/; each rule is explained in docs/transforms.md)
    Setting("VAT_TOLERANCE_UNITS", "0.5",
            "largest |vat - amount*r/(1+r)| still accepted, in minor units of the currency (0.5 = correctly rounded)"),
    Setting("VAT_SOURCES", "PAYMENT,REFUND", "transaction sources whose amount always includes VAT"),
    Setting("AMOUNT_SPIKE_THRESHOLD", "3.5",
            "robust z-score (0.6745*(amount-median)/MAD) above which an amount is a spike among the user's "
            "transactions of the same type, source and action"),
    Setting("AMOUNT_SPIKE_MIN_SAMPLES", "8",
            "fewest transactions of a user, type, source and action before spikes are looked for among them"),
    Setting("AMOUNT_SPIKE_MIN_RATIO", "3",
            "a spike must also be at least this many times the median of those transactions"),
    Setting("FREQUENT_DISCREPANCY_COUNT", "3",
            "discrepant transactions of one user within FREQUENT_DISCREPANCY_DAYS that make a finding"),
    Setting("FREQUENT_DISCREPANCY_DAYS", "7", "length in days of the window of FREQUENT_DISCREPANCY_COUNT"),
    Setting("KNOWN_ACTIONS", "ADD,ADD_DELIVERY_ADDONS,ADD_FOOD,AUTO_RENEW_SUBSCRIPTION,CALO_TEAM_PERKS,"
            "CASH_OR_BENEFIT_PAYMENT,CHANGE_PLAN,COMPENSATION,CREATE_SUBSCRIPTION_WEB,CREDIT_TRANSFER,"
            "CUSTOMERS_CALO_EXPERIMENTS,CUSTOMERS_INFLUENCERS,CX_GIFT,DELIVERY_CANCELLATION,DELIVERY_DEDUCTION,"
            "DOUBLE_ENTRY,EXPIRED_CREDITS,FIXING_BALANCE,FOOD_POISONING,FOREIGN_OBJECT,INVALID_ENTRY,"
            "LEAVING_THE_COUNTRY,MANUAL_DISCOUNT,MARKETING_GIFT_AND_EXPERIMENTS,MEDICAL_CONDITION,OTHER,"
            "PARTIAL_REFUND,PAY_PENDING_AMOUNT,PURCHASE_ADDON_SUBSCRIPTION,REFERRAL_REDEEM_DAYS,"
            "REFERRAL_REDEEM_DISCOUNT,REFUNDED_MANUALLY,REMOVE,REMOVING_DISCOUNT_CODE_CREDITS,REMOVING_GIFTS,"
            "RENEW_SUBSCRIPTION,REPLACE_FOOD,TRANSFERRED_CREDITS",
            "correctly spelt transaction actions, separated by commas; any other action is flagged"),
    Setting("ACTION_TYPO_DISTANCE", "2",
            "largest edit distance at which an unknown action is reported as a typo of a known one"),
    Setting("RAPID_DEDUCTION_SECONDS", "300",
            "a debit of the same user and amount within this many seconds of the previous one is flagged"),
    Setting("BURST_MS", "1000", "transactions of one user closer together than this many milliseconds are a burst"),
    Setting("BUSINESS_HOURS", "08:00-18:00", "business-time working hours, HH:MM-HH:MM, for manual postings"),
    Setting("BUSINESS_WEEKEND", "fri,sat", "weekend days (mon…sun) separated by commas; GCC: fri,sat"),
    Setting("MANUAL_SOURCES", "MANUAL_ADDITION,MANUAL_DEDUCTION", "transaction sources that are postings by hand"),
    Setting("AUTOMATED_ACTIONS", "DELIVERY_DEDUCTION",
            "actions of a manual source that a scheduled job posts (not checked against business hours)"),
    Setting("TEST_USER_IDS", "random-uuid",
            "user ids of test accounts, separated by commas (any id not shaped like a UUID counts too)"),
    Setting("ERROR_DAY_THRESHOLD", "3.5",
            "robust z-score of a day's error or discrepancy count above which the day is flagged"),
    Setting("ERROR_DAY_MIN_COUNT", "5", "a flagged day must also have at least this many errors or discrepancies"),
    # Dashboard
    Setting("DASH_HOST", "127.0.0.1", "interface the dashboard binds to (anything else needs DASH_AUTH_USERS)"),
    Setting("DASH_PORT", "8050", "port of the dashboard"),
    Setting("DASH_AUTH_USERS", "",
            "HTTP basic-auth users as user:password pairs separated by commas (empty: the dashboard answers only "
            "requests from its own machine)", secret=True),
    Setting("DASH_READ_ONLY", "false",
            "true: the dashboard shows reviews but has no controls to change them and refuses every review write"),
    Setting("REVIEWER_NAME", "",
            "name recorded as the reviewer when the dashboard has no DASH_AUTH_USERS (empty: the operating-system "
            "user running it)"),
    Setting("POSTGRES_PASSWORD", "",
            "password of the postgres service in docker-compose.yml (used by Compose only)", secret=True),
    Setting("DASHBOARD_URL", "http://127.0.0.1:8050", "public address of the dashboard, used in alert links"),
    # Alerts (alerts/): Slack incoming webhook and/or SMTP email; a channel is on when its address is set
    Setting("SLACK_WEBHOOK_URL", "", "Slack incoming-webhook URL for alerts (empty: no Slack alerts)", secret=True),
    Setting("SMTP_HOST", "", "mail server for alert emails (empty: no email alerts)"),
    Setting("SMTP_PORT", "587", "port of the mail server"),
    Setting("SMTP_USER", "", "user name for the mail server (empty: no login)"),
    Setting("SMTP_PASSWORD", "", "password for the mail server", secret=True),
    Setting("SMTP_STARTTLS", "true", "upgrade the mail connection with STARTTLS (true/false)"),
    Setting("ALERT_EMAIL_FROM", "balance-logs@localhost", "sender address of alert emails"),
    Setting("ALERT_EMAIL_TO", "", "recipients of alert emails, separated by commas"),
    Setting("ALERT_MIN_SEVERITY", "high",
            "lowest severity of discrepancies and anomalies that is alerted: low, medium or high"),
    # Schedule (python -m scheduler); times are in BUSINESS_TZ
    Setting("INGEST_EVERY_MINUTES", "15", "minutes between two scheduled ingestions of LOG_SOURCE"),
    Setting("DAILY_REPORT_TIME", "01:00",
            "business-time HH:MM at which the daily overdraft report is written (after the nightly batch)"),
    Setting("WEEKLY_REPORT_WEEKDAY", "mon",
            "weekday (mon…sun) on which the weekly reconciliation of the previous week is written"),
    # Privacy
    Setting("PSEUDONYMISE_KEY", "", "secret key for --pseudonymise (HMAC-SHA256 of user ids)", secret=True),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _parse_tz(text: str) -> tzinfo:
    text = text.strip()
    if text.upper() in ("UTC", "Z"):
        return timezone.utc
    if text[:1] in "+-" and ":" in text:
        sign = -1 if text[0] == "-" else 1
        hours, minutes = text[1:].split(":", 1)
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    return ZoneInfo(text)


TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0", "")


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"{text!r} is not true or false")
    return word in TRUE_WORDS


def _parse_map(text: str) -> dict[str, Decimal]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        out[key.strip().upper()] = Decimal(value.strip())
    return out


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved configuration; build it with `load()`."""
    values: dict

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    @property
    def database_url(self) -> str:
        return self.values["DATABASE_URL"]

    @property
    def log_dir(self) -> str:
        return self.values["LOG_DIR"]

    @property
    def log_source(self) -> str:
        """LOG_SOURCE, or LOG_DIR when it is empty."""
        return (self.values.get("LOG_SOURCE") or "").strip() or self.values["LOG_DIR"]

    @property
    def business_tz(self) -> tzinfo:
        return _parse_tz(self.values["BUSINESS_TZ"])

    @property
    def max_file_bytes(self) -> int:
        return int(Decimal(self.values["MAX_FILE_MB"]) * (1 << 20))

    @property
    def tolerance(self) -> Decimal:
        return Decimal(self.values["BALANCE_TOLERANCE"])

    @property
    def currency_precision(self) -> dict[str, int]:
        return {k: int(v) for k, v in _parse_map(self.values["CURRENCY_PRECISION"]).items()}

    @property
    def vat_rates(self) -> dict[str, Decimal]:
        return _parse_map(self.values["VAT_RATES"])

    @property
    def read_only(self) -> bool:
        """DASH_READ_ONLY: reviews are shown, never written."""
        return _parse_bool(self.values["DASH_READ_ONLY"])

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)

    def replace(self, **overrides: str | None) -> "Settings":
        """A copy with some settings overridden (None means 'keep')."""
        values = dict(self.values)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(values)


def load(env_file: str | os.PathLike | None = None, **overrides: str | None) -> Settings:
    """Defaults < .env < process environment < explicit overrides (CLI flags)."""
    values = {s.name: s.default for s in SETTINGS}
    path = Path(env_file) if env_file else ROOT / ".env"
    if path.exists():
        values.update({k: v for k, v in dotenv_values(path).items() if k in _BY_NAME and v is not None})
    values.update({k: os.environ[k] for k in _BY_NAME if k in os.environ})
    settings = Settings(values).replace(**overrides)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    try:
        settings.business_tz
    except Exception:
        raise SettingsError(f"BUSINESS_TZ={settings['BUSINESS_TZ']!r} is not an offset like +03:00 "
                            "or a time zone name like Asia/Riyadh") from None
    try:
        if settings.max_file_bytes < 1 << 10:
            raise ValueError
    except Exception:
        raise SettingsError(f"MAX_FILE_MB={settings['MAX_FILE_MB']!r} is not a size in MB of at least 0.001; "
                            "see .env.example") from None
    for name, getter in (("BALANCE_TOLERANCE", lambda: settings.tolerance),
                         ("CURRENCY_PRECISION", lambda: settings.currency_precision),
                         ("VAT_RATES", lambda: settings.vat_rates), ("DASH_READ_ONLY", lambda: settings.read_only)):
        try:
            getter()
        except Exception:
            raise SettingsError(f"{name}={settings[name]!r} cannot be read; see .env.example") from None


def read_database_url(url: str):
    """The database URL as SQLAlchemy reads it, or a SettingsError that quotes none of it (it may hold a password).

    An '@' left unescaped in a password ends the password early: the rest of it would become the host, port or
    database, be sent to a server and come back in its error messages. A server URL with more than one '@' is
    therefore refused (an '@' in a user name or password is written %40).
    """
    from sqlalchemy.engine import make_url  # only when a URL is used: the settings themselves don't need it
    try:
        parsed = make_url(url)
    except Exception:
        raise SettingsError("DATABASE_URL cannot be read as dialect+driver://user:password@host:port/database "
                            f"(not shown: it may hold a password){_ESCAPE_HINT}") from None
    if parsed.get_backend_name() != "sqlite" and url.count("@") > 1:
        raise SettingsError(f"DATABASE_URL holds more than one '@' (not shown: it may hold a password)"
                            f"{_ESCAPE_HINT}")
    return parsed


_ESCAPE_HINT = "; write an '@', ':' or '/' inside the user name or password as %40, %3A or %2F"
SECRET_URL_PARAMETERS = ("password", "sslpassword")  # libpq takes these in the query string too


def redact_url(url: str) -> str:
    """A database URL fit for logs: the password (in user:password@ or the query string) replaced by ***, and
    nothing of a URL that cannot be read safely."""
    try:
        parsed = read_database_url(url)
    except SettingsError:
        return "<database url not shown: it cannot be read>"
    hidden = [k for k in parsed.query if k.lower() in SECRET_URL_PARAMETERS]
    text = parsed.difference_update_query(hidden).render_as_string(hide_password=True)
    if hidden:
        text += ("&" if "?" in text else "?") + "&".join(f"{k}=***" for k in hidden)
    return text


def flag_of(name: str) -> str:
    """DATABASE_URL -> --database-url: every setting has the same flag everywhere."""
    return "--" + name.lower().replace("_", "-")


def has_flag(setting: Setting) -> bool:
    """Secrets come from the environment or .env only: a command line shows in `ps`. The database URL is the
    exception (most hold no password); from_args refuses one that holds a password."""
    return not setting.secret or setting.name == "DATABASE_URL"


def add_flags(parser, names: tuple[str, ...]) -> None:
    """Add a flag for each named setting that may be one, with its help and default from SETTINGS."""
    group = parser.add_argument_group("settings (flag > environment > .env > default)")
    group.add_argument("--env-file", metavar="PATH", help="read settings from this file instead of ./.env")
    for setting in SETTINGS:
        if setting.name in names and has_flag(setting):
            group.add_argument(flag_of(setting.name), dest=setting.name, metavar=setting.name.split("_")[-1],
                               help=f"{setting.help} (default: {setting.default or 'empty'})".replace("%", "%%"))


def from_args(args) -> Settings:
    overrides = {s.name: getattr(args, s.name, None) for s in SETTINGS}
    url = overrides["DATABASE_URL"]
    if url and _has_password(url):
        raise SettingsError("--database-url holds a password, which any user can read in the process list; "
                            "set DATABASE_URL in .env or the environment instead")
    return load(getattr(args, "env_file", None), **overrides)


def _has_password(url: str) -> bool:
    parsed = read_database_url(url)  # an unreadable URL is refused here, without being quoted
    return bool(parsed.password) or any(k.lower() in SECRET_URL_PARAMETERS for k in parsed.query)


def env_example() -> str:
    """The text of .env.example, generated from SETTINGS (tests/test_settings.py keeps them equal)."""
    lines = ["# balance-logs settings. Copy to .env and edit; the environment and command-line flags override it.",
             "# Generated by `python settings.py > .env.example` from the list in settings.py.", ""]
    for setting in SETTINGS:
        lines.append(f"# {setting.help}" + (" (secret: keep it out of version control)" if setting.secret else ""))
        lines.append(f"{setting.name}={setting.default}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(env_example(), end="")
