"""Quota metrics and their windows: the UTC day and the calendar month (UTC), and when each ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

DAILY_REQUESTS = "requests_per_day"
DAILY_TOKENS = "tokens_per_day"
MONTHLY_TOKENS = "tokens_per_month"


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def month_start(at: datetime) -> date:
    return utc_day(at).replace(day=1)


def next_day(at: datetime) -> datetime:
    return datetime.combine(utc_day(at) + timedelta(days=1), datetime.min.time(), UTC)


def next_month(at: datetime) -> datetime:
    first = (month_start(at).replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(first, datetime.min.time(), UTC)


def seconds_until(moment: datetime, at: datetime) -> int:
    return max(1, int((moment - at).total_seconds()))


def token_counts(amount: int, at: datetime) -> list[tuple[str, date, int]]:
    """`amount` tokens in the day's and the month's counters of the windows `at` falls in (for
    `quotas.repository.add`)."""
    return [(DAILY_TOKENS, utc_day(at), amount), (MONTHLY_TOKENS, month_start(at), amount)]
