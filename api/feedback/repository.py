"""All SQL of feedback: the scored call, as its success event says it, and the one row per completion."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import insert_for
from api.events.models import UsageEvent
from api.events.types import EventType
from api.feedback.models import CompletionFeedback

SCORE = ("rating", "value", "comment")


async def own_completion(
    session: AsyncSession, account_id: uuid.UUID, reference: uuid.UUID
) -> UsageEvent | None:
    """The `llm.call_succeeded` of the caller's completion `reference` (its event id): None for another
    account's, a failed call's or an unknown one, which all look the same to the caller. One row by the
    unique index on event_id."""
    return await session.scalar(
        select(UsageEvent).where(
            UsageEvent.event_id == reference,
            UsageEvent.type == EventType.LLM_CALL_SUCCEEDED.value,
            UsageEvent.user_id == account_id,
        )
    )


async def keep(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Insert the completion's score, or replace the one kept: one atomic upsert on the primary key, so a
    burst of submissions leaves one row. Whether anything changed (the same score and comment again change
    nothing, and write no event)."""
    insert = insert_for(session)
    stmt = insert(CompletionFeedback).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["completion_id"],
        set_={**{c: stmt.excluded[c] for c in SCORE}, "updated_at": stmt.excluded.updated_at},
        where=or_(*(getattr(CompletionFeedback, c).is_distinct_from(stmt.excluded[c]) for c in SCORE)),
    ).returning(CompletionFeedback.completion_id)
    return (await session.execute(stmt)).first() is not None


async def get(session: AsyncSession, completion_id: uuid.UUID) -> CompletionFeedback | None:
    return await session.get(CompletionFeedback, completion_id, populate_existing=True)


async def erase_comments(session: AsyncSession, account_id: uuid.UUID) -> int:
    """A deleted account's comments go (its scores stay, as its events do: docs/decisions/0047)."""
    result = await session.execute(
        update(CompletionFeedback)
        .where(CompletionFeedback.account_id == account_id, CompletionFeedback.comment.is_not(None))
        .values(comment=None)
    )
    return result.rowcount
