"""The system domain's SQL: the database round trip health measures, the providers' recent calls, and a
page of the error log. Reads only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.models import UsageEvent
from api.events.types import EventType
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
