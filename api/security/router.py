"""`/api/v1/admin/security-events`: everyone's login history and the security log (security:read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.audit import service as audit
from api.auth.deps import AuditCtx, SecurityReader
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.security import service
from api.security.schemas import SecurityEventOut

router = APIRouter(prefix="/api/v1/admin", tags=["admin: security"])


@router.get("/security-events", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def security_events(
    _staff: SecurityReader,
    session: SessionDep,
    account_id: uuid.UUID | None = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    kind: Annotated[str | None, Query(max_length=48, description="e.g. user.login_failed")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[SecurityEventOut]:
    rows = await service.events(
        session, account_id=account_id, email=email, kind=kind, limit=limit, offset=offset
    )
    return [SecurityEventOut.model_validate(row) for row in rows]


@router.get(
    "/security-events/export",
    responses={**responses(NotAuthenticated, Forbidden, AccountBlocked), **exports.LIST_EXPORT},
    response_class=Response,
)
async def export_security_events(
    staff: SecurityReader,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    account_id: uuid.UUID | None = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    kind: Annotated[str | None, Query(max_length=48)] = None,
    format: exports.Format = "csv",
):
    """Every matching event (logins, failures, password and 2FA changes), as CSV (streamed) or XLSX."""
    query, header = service.export_query(account_id=account_id, email=email, kind=kind)
    return await audit.export(
        request, session, staff, audit_ctx, format, query, header, filename="security-events"
    )
