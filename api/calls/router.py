"""`/api/v1/admin/calls`: the request explorer. Every completion with filters, one call with its provider
attempts (users:read), and the messages it kept (conversations:read, each read audited)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.audit import service as audit
from api.auth.deps import AuditCtx, ConversationsReader, UsersReader
from api.calls import service
from api.calls.repository import CallFilter
from api.calls.schemas import CallDetailOut, CallMessagesOut, CallPage
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import Instant, SafeStr

router = APIRouter(prefix="/api/v1/admin/calls", tags=["admin: calls"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)
ONE_ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
CallId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _filter(
    user_id: uuid.UUID | None = None,
    email: Annotated[SafeStr | None, Query(max_length=320, description="the caller's email, exactly")] = None,
    model: Annotated[SafeStr | None, Query(max_length=128)] = None,
    provider: Annotated[SafeStr | None, Query(max_length=64)] = None,
    role: Annotated[SafeStr | None, Query(max_length=64, description="the assistant role's id")] = None,
    plan: Annotated[SafeStr | None, Query(max_length=32)] = None,
    status: Literal["ok", "disconnected", "error"] | None = None,
    error_code: Annotated[SafeStr | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> CallFilter:
    return CallFilter(user_id, email, model, provider, role, plan, status, error_code, since, until)


Filters = Annotated[CallFilter, Depends(_filter)]


@router.get("", responses=ERRORS)
async def list_calls(
    _staff: UsersReader,
    session: SessionDep,
    filters: Filters,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="the page's `next_before`")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CallPage:
    """Completions (succeeded and failed), newest first, a page at a time: a page continues below the last
    id of the one before, so calls made meanwhile never shift, repeat or hide a row."""
    return await service.page(session, filters, before=before, limit=limit)


@router.get("/export", responses={**ERRORS, **exports.LIST_EXPORT}, response_class=Response)
async def export_calls(
    staff: UsersReader,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    filters: Filters,
    format: exports.Format = "csv",
):
    """Every matching call (its properties as JSON), as CSV (streamed) or XLSX; recorded in the audit log
    first (its rows carry users' emails)."""
    query = service.calls_query(filters)
    return await audit.export(
        request, session, staff, audit_ctx, format, query, list(service.COLUMNS), filename="calls"
    )


@router.get("/{call_id}", responses=ONE_ERRORS)
async def call_detail(_staff: UsersReader, session: SessionDep, call_id: CallId) -> CallDetailOut:
    """One call: tokens, cost, credits, latency, every provider attempt in order, the error."""
    return await service.detail(session, call_id)


@router.get("/{call_id}/messages", responses=ONE_ERRORS)
async def call_messages(
    staff: ConversationsReader,
    session: SessionDep,
    audit_ctx: AuditCtx,
    call_id: CallId,
    reason: Annotated[
        SafeStr | None, Query(max_length=500, description="why (kept in the audit log)")
    ] = None,
) -> CallMessagesOut:
    """The question and answer the call kept in its chat; a read is audited (action `conversation.read`)."""
    return await service.messages(session, staff, call_id, reason=reason, now=utcnow(), context=audit_ctx)
