"""Figures of the last minutes, straight from the OLTP `usage_events` (the warehouse lags by up to a minute):
what `/api/v1/admin/live` shows and what alert rules watch. The queries are api/system/repository.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.system import repository as repo


@dataclass(frozen=True, slots=True)
class CallCounts:
    """The LLM calls of a window."""

    requests: int
    errors: int  # failed calls
    cost_usd: Decimal  # what the calls cost (failed calls cost nothing)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


async def call_counts(
    session: AsyncSession, since: datetime, until: datetime | None = None, *, provider: str | None = None
) -> CallCounts:
    """Calls, failures and cost of the LLM calls from `since` to `until` (default: now), of one provider or
    of all."""
    requests, errors, cost = await repo.call_totals(session, since, until, provider)
    return CallCounts(requests=requests, errors=errors, cost_usd=cost)


def latency_bucket_upper_ms(latency_ms: float) -> int:
    """The upper bound of the 5% bucket a latency falls in: the warehouse's `latency_bucket_upper_ms`
    (dbt/macros/latency.sql), so that a live p95 and the warehouse's are the same kind of number."""
    return round(math.exp(math.ceil(math.log(max(latency_ms, 1)) / math.log(1.05)) * math.log(1.05)))


async def latency_p95(
    session: AsyncSession, since: datetime, until: datetime | None = None, *, provider: str | None = None
) -> float | None:
    """The 95th percentile of the window's latency by the one definition (decision 0042): nearest rank over
    the successful calls, reported as the upper bound of its 5% bucket. None without a successful call."""
    if session.bind.dialect.name == "postgresql":
        value = await repo.latency_percentile(session, 0.95, since, until, provider)
    else:  # SQLite (development) has no percentile function: the latencies of the window, in order.
        values = await repo.latencies(session, since, until, provider)
        value = values[math.ceil(Decimal("0.95") * len(values)) - 1] if values else None
    return None if value is None else float(latency_bucket_upper_ms(value))


async def active_users(session: AsyncSession, since: datetime) -> int:
    """End users who did anything since then (the warehouse's definition of active; staff never count)."""
    return await repo.active_users(session, since)


THROUGHPUT_MAX_HOURS = 24


@dataclass(frozen=True, slots=True)
class MinuteCalls:
    """The LLM calls of one model through one provider in one minute (UTC)."""

    minute: datetime
    model: str | None
    provider: str | None
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def _as_minute(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)


async def throughput(session: AsyncSession, now: datetime, hours: int) -> list[MinuteCalls]:
    """Requests and tokens a minute (RPM, TPM) by model and provider over the last `hours` (at most
    THROUGHPUT_MAX_HOURS), from now - hours; minutes without a call are absent."""
    rows = await repo.calls_by_minute(session, now - timedelta(hours=hours))
    return [
        MinuteCalls(_as_minute(minute), model, provider, int(n), int(failed), int(tin), int(tout))
        for minute, model, provider, n, failed, tin, tout in rows
    ]
