"""Business dates and weeks: parsing `--date`, `--week`, `--from`, `--to`, and their UTC bounds.

Business dates are days in BUSINESS_TZ ('YYYY-MM-DD'); weeks are ISO weeks
(Monday to Sunday) written `2024-W02`. Timestamps in the database are UTC text
(`2024-01-08T21:00:00.000Z`), so a business day's bounds are converted to UTC
text once and compared as text, which is exact on every database.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from errors import UsageError

_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)


def parse_date(text: str, flag: str = "--date") -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-01-08") from None


def parse_week(text: str) -> tuple[str, str]:
    """'2024-W02' (or a date inside the week) -> (monday, sunday) as 'YYYY-MM-DD'."""
    match = _WEEK.match(text.strip())
    try:
        if match:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        else:
            day = date.fromisoformat(text.strip())
            monday = day - timedelta(days=day.weekday())
    except ValueError:
        raise UsageError(f"--week {text!r} is not a week; write it as an ISO week like 2024-W02 "
                         "or any date inside the week") from None
    return monday.isoformat(), (monday + timedelta(days=6)).isoformat()


def week_label(monday: str) -> str:
    year, week, _ = date.fromisoformat(monday).isocalendar()
    return f"{year}-W{week:02d}"


def previous_week(today: date) -> tuple[str, str]:
    """The last complete Monday-to-Sunday week before `today`."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday.isoformat(), (monday + timedelta(days=6)).isoformat()


def utc_text(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def day_start_utc(business_date: str, tz: tzinfo) -> str:
    """The first instant of a business day, as UTC text comparable with `ts` columns."""
    return utc_text(datetime.combine(date.fromisoformat(business_date), time(0), tzinfo=tz))


def next_day(business_date: str) -> str:
    return (date.fromisoformat(business_date) + timedelta(days=1)).isoformat()


def business_today(now: datetime, tz: tzinfo) -> date:
    return now.astimezone(tz).date()
