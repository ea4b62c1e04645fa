"""Figures of the last minutes, straight from the OLTP `usage_events` (the warehouse lags by up to a minute):
what `/api/v1/admin/live` shows and what alert rules watch. The queries are api/system/repository.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
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
