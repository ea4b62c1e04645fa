"""All SQL of guardrails: the policies of roles and plans, and the moderation flags."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.guardrails.models import GuardrailPolicy, ModerationFlag


async def policies(session: AsyncSession) -> Sequence[GuardrailPolicy]:
    return (
        await session.scalars(select(GuardrailPolicy).order_by(GuardrailPolicy.scope, GuardrailPolicy.target))
    ).all()


async def policy(session: AsyncSession, scope: str, target: str) -> GuardrailPolicy | None:
    return await session.get(GuardrailPolicy, (scope, target))


def add(session: AsyncSession, row: GuardrailPolicy | ModerationFlag) -> None:
    session.add(row)


async def remove(session: AsyncSession, row: GuardrailPolicy) -> None:
    await session.delete(row)


async def flags(
    session: AsyncSession, status: str | None, limit: int, offset: int, flag_id: int | None = None
) -> Sequence[tuple[ModerationFlag, str | None]]:
    """Flags (or the one `flag_id`) with their user's email, the newest first."""
    query = select(ModerationFlag, Account.email).join(Account, Account.id == ModerationFlag.account_id)
    if flag_id is not None:
        query = query.where(ModerationFlag.id == flag_id)
    if status is not None:
        query = query.where(ModerationFlag.status == status)
    query = query.order_by(ModerationFlag.id.desc()).limit(limit).offset(offset)
    return [(flag, email) for flag, email in (await session.execute(query)).all()]


async def flag_for_update(session: AsyncSession, flag_id: int) -> ModerationFlag | None:
    """The flag, locked until the review commits: two moderators acting on it at once are served in turn."""
    return await session.scalar(select(ModerationFlag).where(ModerationFlag.id == flag_id).with_for_update())


async def close_open_flags(
    session: AsyncSession, account_id: uuid.UUID, *, status: str, reviewer_id: uuid.UUID, at, note: str
) -> list[int]:
    """Close every open flag of the account as `status`; their ids."""
    closed = await session.scalars(
        update(ModerationFlag)
        .where(ModerationFlag.account_id == account_id, ModerationFlag.status == "open")
        .values(status=status, reviewer_id=reviewer_id, reviewed_at=at, review_note=note)
        .returning(ModerationFlag.id)
    )
    return sorted(closed.all())
