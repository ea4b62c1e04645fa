from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.events.types import EventType
from api.security.models import SecurityEvent

LOGIN_FAILED = EventType.USER_LOGIN_FAILED.value
LOGIN_SUCCEEDED = EventType.USER_LOGIN_SUCCEEDED.value


async def login_failures(
    session: AsyncSession, *, since: datetime, email: str | None = None, ip: str | None = None
) -> tuple[int, datetime | None]:
    """Failed logins since `since` for one email (after its last success) or one IP: count and oldest."""
    query = select(func.count(), func.min(SecurityEvent.occurred_at)).where(
        SecurityEvent.kind == LOGIN_FAILED, SecurityEvent.occurred_at >= since
    )
    if email is not None:
        last_success = await session.scalar(
            select(func.max(SecurityEvent.occurred_at)).where(
                SecurityEvent.kind == LOGIN_SUCCEEDED, SecurityEvent.email == email
            )
        )
        query = query.where(SecurityEvent.email == email)
        if last_success is not None:
            query = query.where(SecurityEvent.occurred_at > last_success)
    else:
        query = query.where(SecurityEvent.ip == ip)
    count, oldest = (await session.execute(query)).one()
    return int(count), oldest


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
