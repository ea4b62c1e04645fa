from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Row, Select, and_, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import insert_for
from api.events.types import EventType
from api.security.models import AttemptCounter, SecurityEvent

LOGIN_SUCCEEDED = EventType.USER_LOGIN_SUCCEEDED.value


async def signed_in_from(session: AsyncSession, *, email: str, ip: str, since: datetime) -> bool:
    """Whether the account of `email` has signed in from `ip` since `since` (one of its usual sources)."""
    found = await session.scalar(
        select(SecurityEvent.id)
        .where(
            SecurityEvent.kind == LOGIN_SUCCEEDED,
            SecurityEvent.email == email,
            SecurityEvent.occurred_at >= since,
            SecurityEvent.ip == ip,
        )
        .limit(1)
    )
    return found is not None


async def take_attempt(
    session: AsyncSession,
    key: str,
    *,
    at: datetime,
    limit: int,
    new_window_before: datetime,
    forget_before: datetime,
) -> bool:
    """Take one attempt of `key` unless it is blocked or already has `limit` in this window: one conditional
    upsert, so that simultaneous takers cannot pass the limit (it locks the counter row and re-checks the
    condition on its latest version on PostgreSQL; it runs under the write lock on SQLite).

    A window that began before `new_window_before` is over: the count starts again. Lockouts are forgotten
    once a window began before `forget_before` (the key was quiet for as long as the longest block)."""
    counter = AttemptCounter
    window_over = counter.window_start <= new_window_before
    stmt = (
        insert_for(session)(counter)
        .values(key=key, attempts=1, window_start=at, blocked_until=None, lockouts=0)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "attempts": case((window_over, 1), else_=counter.attempts + 1),
                "window_start": case((window_over, at), else_=counter.window_start),
                "lockouts": case((counter.window_start <= forget_before, 0), else_=counter.lockouts),
            },
            where=and_(
                or_(counter.blocked_until.is_(None), counter.blocked_until <= at),
                or_(window_over, counter.attempts < limit),
            ),
        )
        .returning(counter.key)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get_attempts(session: AsyncSession, key: str) -> Row | None:
    """The counter of `key` as it is now: (attempts, window_start, blocked_until, lockouts)."""
    c = AttemptCounter
    query = select(c.attempts, c.window_start, c.blocked_until, c.lockouts).where(c.key == key)
    return (await session.execute(query)).first()


async def block_attempts(
    session: AsyncSession, key: str, *, limit: int, lockouts: int, until: datetime
) -> bool:
    """Block a full counter until `until` (its count starts again then): True for the one caller that did,
    however many failed checks finish at once."""
    result = await session.execute(
        update(AttemptCounter)
        .where(
            AttemptCounter.key == key,
            AttemptCounter.attempts >= limit,
            AttemptCounter.lockouts == lockouts,
        )
        .values(blocked_until=until, window_start=until, attempts=0, lockouts=lockouts + 1)
    )
    return result.rowcount == 1


async def forget_attempts(session: AsyncSession, keys: list[str]) -> None:
    await session.execute(delete(AttemptCounter).where(AttemptCounter.key.in_(keys)))


async def give_back_attempt(session: AsyncSession, keys: list[str]) -> None:
    await session.execute(
        update(AttemptCounter)
        .where(AttemptCounter.key.in_(keys), AttemptCounter.attempts > 0)
        .values(attempts=AttemptCounter.attempts - 1)
    )


COLUMNS = ("id", "occurred_at", "kind", "outcome", "account_id", "email", "ip", "user_agent", "details")


def events_query(
    *, account_id: uuid.UUID | None = None, email: str | None = None, kind: str | None = None, columns=False
) -> Select:
    """Login history and the security log, newest first (events, or the exported columns)."""
    query = select(*(getattr(SecurityEvent, c) for c in COLUMNS)) if columns else select(SecurityEvent)
    if account_id is not None:
        query = query.where(SecurityEvent.account_id == account_id)
    if email is not None:
        query = query.where(SecurityEvent.email == email)
    if kind is not None:
        query = query.where(SecurityEvent.kind == kind)
    return query.order_by(SecurityEvent.id.desc())


async def list_events(
    session: AsyncSession,
    *,
    account_id: uuid.UUID | None = None,
    email: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SecurityEvent]:
    query = events_query(account_id=account_id, email=email, kind=kind).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


async def forget_email(session: AsyncSession, account_id: uuid.UUID, email: str, replacement: str) -> None:
    """The security log's rows of the account, or of its address, say `replacement` for the address."""
    await session.execute(
        update(SecurityEvent)
        .where(or_(SecurityEvent.account_id == account_id, SecurityEvent.email == email))
        .values(email=replacement)
    )
