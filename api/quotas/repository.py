"""Atomic quota counters: one conditional upsert, so concurrent calls can never pass the limit."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import insert_for
from api.quotas.models import QuotaUsage


async def try_consume(
    session: AsyncSession,
    account_id: uuid.UUID,
    metric: str,
    window_start: date,
    limit: int | None,
    amount: int = 1,
) -> int | None:
    """Take `amount` units if they fit under `limit` (None: no limit); the new count, or None (nothing
    taken) when they do not.

    `INSERT … ON CONFLICT DO UPDATE … WHERE used + amount <= limit RETURNING used` locks the counter row
    and re-checks the condition on its latest version (PostgreSQL), or runs under SQLite's write lock.
    """
    if limit is not None and amount > limit:
        return None
    insert = insert_for(session)
    stmt = (
        insert(QuotaUsage)
        .values(account_id=account_id, metric=metric, window_start=window_start, used=amount)
        .on_conflict_do_update(
            index_elements=["account_id", "metric", "window_start"],
            set_={"used": QuotaUsage.used + amount},
            where=None if limit is None else QuotaUsage.used + amount <= limit,
        )
        .returning(QuotaUsage.used)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def release(session: AsyncSession, account_id: uuid.UUID, metric: str, window_start: date) -> None:
    """Give back one unit taken by `try_consume` (the call it paid for did not happen)."""
    await session.execute(
        update(QuotaUsage)
        .where(
            QuotaUsage.account_id == account_id,
            QuotaUsage.metric == metric,
            QuotaUsage.window_start == window_start,
            QuotaUsage.used > 0,
        )
        .values(used=QuotaUsage.used - 1)
    )


async def used(session: AsyncSession, account_id: uuid.UUID, metric: str, window_start: date) -> int:
    value = await session.scalar(
        select(QuotaUsage.used).where(
            QuotaUsage.account_id == account_id,
            QuotaUsage.metric == metric,
            QuotaUsage.window_start == window_start,
        )
    )
    return int(value or 0)


async def add(session: AsyncSession, account_id: uuid.UUID, counts: list[tuple[str, date, int]]) -> None:
    """Count more of several metrics at once (tokens, known only after the call), with no limit check:
    one statement, executed for each (metric, window start, amount)."""
    insert = insert_for(session)
    stmt = insert(QuotaUsage)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id", "metric", "window_start"],
            set_={"used": QuotaUsage.used + stmt.excluded.used},
        ),
        [
            {"account_id": account_id, "metric": metric, "window_start": window_start, "used": amount}
            for metric, window_start, amount in counts
        ],
    )
