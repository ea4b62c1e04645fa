"""`/api/v1/admin/audit`: the audit log, filtered by actor, action, target and time (audit:read)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.audit.models import AuditEntry
from api.core.deps import AuditReader, SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.users.admin_router import AuditEntryOut

router = APIRouter(prefix="/api/v1/admin", tags=["admin: audit"])


@router.get("/audit", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def audit_log(
    _staff: AuditReader,
    session: SessionDep,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. user.block")] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AuditEntryOut]:
    """Newest first."""
    query = select(AuditEntry)
    for column, value in (
        (AuditEntry.actor_id, actor_id),
        (AuditEntry.action, action),
        (AuditEntry.target_type, target_type),
        (AuditEntry.target_id, target_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEntry.occurred_at < until)
    rows = await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return [AuditEntryOut.model_validate(row) for row in rows.all()]
