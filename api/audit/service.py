"""Write the audit log, in the transaction of the change it records (both commit, or neither)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit.models import AuditEntry


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Where a staff action came from."""

    ip: str | None = None
    request_id: str | None = None


async def write(
    session: AsyncSession,
    actor: Account,
    action: str,
    *,
    target_type: str,
    target_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    at: datetime,
    context: AuditContext,
    reason: str | None = None,
) -> None:
    await write_as(
        session,
        actor.id,
        action,
        actor_email=actor.email,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        at=at,
        context=context,
        reason=reason,
    )


async def write_as(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    action: str,
    *,
    target_type: str,
    target_id: str,
    after: dict[str, Any],
    at: datetime,
    context: AuditContext,
    before: dict[str, Any] | None = None,
    actor_email: str | None = None,
    reason: str | None = None,
) -> None:
    """The same, for an actor known by id (an admin's requests under impersonation)."""
    await session.execute(
        insert(AuditEntry.__table__).values(
            occurred_at=at,
            actor_id=actor_id,
            actor_email=actor_email,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before or {},
            after=after,
            reason=reason,
            ip=context.ip,
            request_id=context.request_id,
        )
    )


async def commit_audited(
    session: AsyncSession,
    actor: Account,
    action: str,
    *,
    target_type: str,
    target_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    at: datetime,
    context: AuditContext,
    reason: str | None = None,
    after_commit: Callable[[], None] | None = None,
) -> None:
    """Finish a staff change made in `session`: write its audit row, commit the change and the row together,
    then (only once both are durable) run `after_commit`, e.g. reload a cache that holds what changed."""
    await write(
        session, actor, action, target_type=target_type, target_id=target_id, before=before, after=after,
        at=at, context=context, reason=reason,
    )  # fmt: skip
    await session.commit()
    if after_commit is not None:
        after_commit()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


COLUMNS = ("id", "occurred_at", "actor_id", "actor_email", "action", "target_type", "target_id", "before",
           "after", "reason", "ip", "request_id")  # fmt: skip


def log_query(f: AuditFilter, *, columns: bool = False) -> Select:
    """The audit log, newest first, filtered by actor, action, target and time (entries, or the exported
    columns)."""
    query = select(*(getattr(AuditEntry, c) for c in COLUMNS)) if columns else select(AuditEntry)
    for column, value in (
        (AuditEntry.actor_id, f.actor_id),
        (AuditEntry.action, f.action),
        (AuditEntry.target_type, f.target_type),
        (AuditEntry.target_id, f.target_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.since is not None:
        query = query.where(AuditEntry.occurred_at >= f.since)
    if f.until is not None:
        query = query.where(AuditEntry.occurred_at < f.until)
    return query.order_by(AuditEntry.id.desc())


async def entries(session: AsyncSession, f: AuditFilter, *, limit: int, offset: int) -> Sequence[AuditEntry]:
    """One page of the audit log, newest first."""
    return (await session.scalars(log_query(f).limit(limit).offset(offset))).all()
