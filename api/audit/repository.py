"""All SQL of the audit log: append an entry, read the log filtered. Repositories flush, never commit: the
caller's service owns the transaction (an entry commits with the change it records)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.models import AuditEntry


async def add_entry(session: AsyncSession, values: dict[str, Any]) -> None:
    """One audit row (a plain INSERT: entries are never read back or changed in the session)."""
    await session.execute(insert(AuditEntry.__table__).values(values))


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


COLUMNS = ("id", "occurred_at", "actor_id", "actor_email", "action", "target_type", "target_id", "before",
           "after", "reason", "ip", "user_agent", "request_id")  # fmt: skip


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
