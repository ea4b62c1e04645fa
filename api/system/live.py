"""Figures of the last minutes, straight from the OLTP `usage_events` (the warehouse lags by up to a minute):
what `/api/v1/admin/live` shows and what alert rules watch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.events.models import UsageEvent
from api.events.types import LLM_CALLS, USER_ACTIVITY, EventType


@dataclass(frozen=True, slots=True)
class CallCounts:
    """The LLM calls of a window."""

    requests: int
    errors: int  # failed calls
    cost_usd: Decimal  # what the calls cost (failed calls cost nothing)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


def _calls_in(since: datetime, until: datetime | None, provider: str | None) -> list[ColumnElement[bool]]:
    where = [UsageEvent.occurred_at >= since, UsageEvent.type.in_([t.value for t in LLM_CALLS])]
    if until is not None:
        where.append(UsageEvent.occurred_at <= until)
    if provider is not None:
        where.append(UsageEvent.provider == provider)
    return where


async def call_counts(
    session: AsyncSession, since: datetime, until: datetime | None = None, *, provider: str | None = None
) -> CallCounts:
    """Calls, failures and cost of the LLM calls from `since` to `until` (default: now), of one provider or
    of all."""
    requests, errors, cost = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(UsageEvent.type == EventType.LLM_CALL_FAILED.value),
                func.coalesce(func.sum(UsageEvent.cost_usd), 0),
            ).where(*_calls_in(since, until, provider))
        )
    ).one()
    return CallCounts(requests=requests, errors=errors, cost_usd=Decimal(cost))


async def latency_p95(
    session: AsyncSession, since: datetime, until: datetime | None = None, *, provider: str | None = None
) -> float | None:
    """The 95th percentile (interpolated) of the LLM calls' latency in the window."""
    where = [*_calls_in(since, until, provider), UsageEvent.latency_ms.is_not(None)]
    if session.bind.dialect.name == "postgresql":
        value = await session.scalar(
            select(func.percentile_cont(0.95).within_group(UsageEvent.latency_ms)).where(*where)
        )
        return float(value) if value is not None else None
    # SQLite (development) has no percentile function: the latencies of the window, in order.
    query = select(UsageEvent.latency_ms).where(*where).order_by(UsageEvent.latency_ms)
    values = list((await session.scalars(query)).all())
    if not values:
        return None
    position = 0.95 * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return float(values[low] + (values[high] - values[low]) * (position - low))


async def active_users(session: AsyncSession, since: datetime) -> int:
    """End users who did anything since then (the warehouse's definition of active; staff never count)."""
    count = await session.scalar(
        select(func.count(func.distinct(UsageEvent.user_id)))
        .select_from(UsageEvent)
        .outerjoin(Account, Account.id == UsageEvent.user_id)
        .where(
            UsageEvent.occurred_at >= since,
            UsageEvent.type.in_([t.value for t in USER_ACTIVITY]),
            func.coalesce(Account.role, "user") == "user",
        )
    )
    return count or 0
