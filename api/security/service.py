"""Write the security log. Each entry is also a usage event, in the same transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.events import outbox
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.security import repository as security_log
from api.security.models import SecurityEvent


def record(
    session: AsyncSession,
    event: EventType,
    *,
    at: datetime,
    ctx: RequestContext,
    account: Account | None,
    email: str | None = None,
    ok: bool = True,
    error_code: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Who, when, from where (IP, user agent), what and how it ended; the caller commits."""
    details = details or {}
    session.add(
        SecurityEvent(
            occurred_at=at,
            kind=event.value,
            outcome="success" if ok else "failure",
            account_id=account.id if account else None,
            email=email or (account.email if account else None),
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            details={**details, **({"error_code": error_code} if error_code else {})},
        )
    )
    outbox.record(
        session,
        event,
        at=at,
        ctx=ctx,
        **outbox.about(account),
        status="ok" if ok else "error",
        error_code=error_code,
        properties=details,
    )


async def events(
    session: AsyncSession,
    *,
    account_id: uuid.UUID | None = None,
    email: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SecurityEvent]:
    """Login history and the security log, newest first; an email is matched as typed at login (trimmed,
    lower case)."""
    return await security_log.list_events(
        session,
        account_id=account_id,
        email=email.strip().lower() if email else None,
        kind=kind,
        limit=limit,
        offset=offset,
    )


def export_query(
    *, account_id: uuid.UUID | None, email: str | None, kind: str | None
) -> tuple[Select, list[str]]:
    """The matching events as exported (the query and its columns), for api.core.exports to stream."""
    query = security_log.events_query(
        account_id=account_id, email=email.strip().lower() if email else None, kind=kind, columns=True
    )
    return query, list(security_log.COLUMNS)


async def login_failures(
    session: AsyncSession, *, since: datetime, email: str | None = None, ip: str | None = None
) -> tuple[int, datetime | None]:
    """Failed logins since `since` for one email (after its last success) or one IP: count and oldest."""
    return await security_log.login_failures(session, since=since, email=email, ip=ip)
