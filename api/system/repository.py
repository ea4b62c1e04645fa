"""The system domain's SQL: the database round trip health measures, the providers' recent calls, a page
of the error log, and the live figures of the last minutes (api/system/live.py). Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.events.models import UsageEvent
from api.events.types import LLM_CALLS, USER_ACTIVITY, EventType
from api.system.models import ErrorEntry


async def ping(session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))


async def provider_calls(session: AsyncSession, since: datetime) -> dict[tuple[str, str], int]:
    """LLM calls since `since`, by (provider, event type: succeeded or failed)."""
    counts = (
        await session.execute(
            select(UsageEvent.provider, UsageEvent.type, func.count())
            .where(
                UsageEvent.occurred_at >= since,
                UsageEvent.type.in_([EventType.LLM_CALL_SUCCEEDED.value, EventType.LLM_CALL_FAILED.value]),
                UsageEvent.provider.is_not(None),
            )
            .group_by(UsageEvent.provider, UsageEvent.type)
        )
    ).all()
    return {(provider, type_): n for provider, type_, n in counts}


async def errors_page(
    session: AsyncSession, query: Select, *, limit: int, offset: int
) -> Sequence[ErrorEntry]:
    return (await session.scalars(query.limit(limit).offset(offset))).all()


# ---------------------------------------------------------------- live figures (OLTP usage_events)


def _calls_in(since: datetime, until: datetime | None, provider: str | None) -> list[ColumnElement[bool]]:
    where = [UsageEvent.occurred_at >= since, UsageEvent.type.in_([t.value for t in LLM_CALLS])]
    if until is not None:
        where.append(UsageEvent.occurred_at <= until)
    if provider is not None:
        where.append(UsageEvent.provider == provider)
    return where


async def call_totals(
    session: AsyncSession, since: datetime, until: datetime | None, provider: str | None
) -> tuple[int, int, Decimal]:
    """(calls, failed calls, cost in USD) of the LLM calls in the window, of one provider or of all."""
    requests, errors, cost = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(UsageEvent.type == EventType.LLM_CALL_FAILED.value),
                func.coalesce(func.sum(UsageEvent.cost_usd), 0),
            ).where(*_calls_in(since, until, provider))
        )
    ).one()
    return requests, errors, Decimal(cost)


def _latency_where(
    since: datetime, until: datetime | None, provider: str | None
) -> list[ColumnElement[bool]]:
    """The successful calls with a latency: the ones a latency percentile is over (decision 0042)."""
    return [
        *_calls_in(since, until, provider),
        UsageEvent.type == EventType.LLM_CALL_SUCCEEDED.value,
        UsageEvent.latency_ms.is_not(None),
    ]


async def latency_percentile(
    session: AsyncSession, fraction: float, since: datetime, until: datetime | None, provider: str | None
) -> float | None:
    """The nearest-rank percentile of the window's successful call latencies (PostgreSQL's percentile_disc:
    the first value whose position reaches the fraction), or None without one."""
    value = await session.scalar(
        select(func.percentile_disc(fraction).within_group(UsageEvent.latency_ms)).where(
            *_latency_where(since, until, provider)
        )
    )
    return float(value) if value is not None else None


async def latencies(
    session: AsyncSession, since: datetime, until: datetime | None, provider: str | None
) -> list[int]:
    """The window's successful call latencies in order (for SQLite, which has no percentile function)."""
    query = select(UsageEvent.latency_ms).where(*_latency_where(since, until, provider))
    return list((await session.scalars(query.order_by(UsageEvent.latency_ms))).all())


async def active_users(session: AsyncSession, since: datetime) -> int:
    """Distinct end users with any activity since then (staff never count)."""
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


def _minute(dialect: str) -> ColumnElement[Any]:
    """The call's minute: PostgreSQL truncates the timestamp; SQLite (naive UTC text) cuts its text."""
    if dialect == "postgresql":
        return func.date_trunc("minute", UsageEvent.occurred_at)
    return func.strftime("%Y-%m-%d %H:%M:00", UsageEvent.occurred_at)


async def calls_by_minute(session: AsyncSession, since: datetime) -> list[tuple[Any, ...]]:
    """(minute, model, provider, calls, failed calls, input tokens, output tokens) of the LLM calls since
    `since`, one row per minute, model and provider that had a call, in time order."""
    minute = _minute(session.bind.dialect.name).label("minute")
    rows = await session.execute(
        select(
            minute,
            UsageEvent.model_id,
            UsageEvent.provider,
            func.count(),
            func.count().filter(UsageEvent.type == EventType.LLM_CALL_FAILED.value),
            func.coalesce(func.sum(UsageEvent.input_tokens), 0),
            func.coalesce(func.sum(UsageEvent.output_tokens), 0),
        )
        .where(*_calls_in(since, None, None))
        .group_by(minute, UsageEvent.model_id, UsageEvent.provider)
        .order_by(minute, UsageEvent.model_id, UsageEvent.provider)
    )
    return [tuple(row) for row in rows.all()]


async def add_error(session: AsyncSession, **values: Any) -> None:
    """One row of the error log (a plain INSERT: never read back in the session)."""
    await session.execute(insert(ErrorEntry.__table__).values(**values))


COLUMNS = ("id", "occurred_at", "kind", "request_id", "method", "path", "status", "error_type", "message",
           "account_id", "details")  # fmt: skip


def errors_query(
    *, kind: str | None = None, request_id: str | None = None, since: datetime | None = None, columns=False
) -> Select:
    """The error log, newest first (entries, or the exported columns)."""
    query = select(*(getattr(ErrorEntry, c) for c in COLUMNS)) if columns else select(ErrorEntry)
    if kind:
        query = query.where(ErrorEntry.kind == kind)
    if request_id:
        query = query.where(ErrorEntry.request_id == request_id)
    if since:
        query = query.where(ErrorEntry.occurred_at >= since)
    return query.order_by(ErrorEntry.id.desc())
