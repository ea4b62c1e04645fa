"""`/api/v1/admin/audit`: the audit log, filtered by actor, action, target and time (audit:read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from api.audit import service
from api.audit.schemas import AuditEntryOut, DownloadIn
from api.audit.service import COLUMNS, AuditFilter, log_query
from api.auth.deps import AnalyticsReader, AuditCtx, AuditReader
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.core.validation import Instant

router = APIRouter(prefix="/api/v1/admin", tags=["admin: audit"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)


async def _filter(
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. user.block")] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> AuditFilter:
    return AuditFilter(actor_id, action, target_type, target_id, since, until)


Filters = Annotated[AuditFilter, Depends(_filter)]


@router.get("/audit", responses=ERRORS)
async def audit_log(
    _staff: AuditReader,
    session: SessionDep,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AuditEntryOut]:
    """Newest first."""
    entries = await service.entries(session, filters, limit=limit, offset=offset)
    return [AuditEntryOut.model_validate(row) for row in entries]


@router.get("/audit/export", responses={**ERRORS, **exports.LIST_EXPORT}, response_class=Response)
async def export_audit_log(
    staff: AuditReader,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    filters: Filters,
    format: exports.Format = "csv",
):
    """Every matching entry (before and after as JSON), as CSV (streamed) or XLSX."""
    query = log_query(filters, columns=True)
    return await service.export(
        request, session, staff, audit_ctx, format, query, list(COLUMNS), filename="audit"
    )


@router.post("/audit/downloads", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def record_download(
    staff: AnalyticsReader, audit_ctx: AuditCtx, session: SessionDep, body: DownloadIn
) -> None:
    """The panel reports a table a staff member downloaded as shown (made in the panel, not here): it goes
    into the audit log as `export.download`, like the API's own list exports. Every staff role may."""
    await service.record_download(
        session, staff, audit_ctx, name=body.name, format=body.format, rows=body.rows, columns=body.columns
    )
