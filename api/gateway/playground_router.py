"""`POST /api/v1/admin/playground` (catalogue:write): staff try a role, a version of it or an unsaved
system prompt on any enabled model and see the answer, tokens, cost and latency (api/gateway/playground.py,
docs/decisions/0058). Saving the prompt is the roles API's `PUT`, as any edit."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.auth.deps import AuditCtx, CatalogueWriter, RequestCtx
from api.catalogue.service import ModelNotFound
from api.core.deps import SessionDep
from api.core.errors import (
    AccountBlocked,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ProviderUnavailable,
    responses,
)
from api.core.types import utcnow
from api.gateway import playground
from api.gateway.schemas import PlaygroundIn, PlaygroundOut
from api.gateway.service import ContextLengthExceeded, MaxTokensTooLarge

router = APIRouter(prefix="/api/v1/admin/playground", tags=["admin: roles"])


@router.post(
    "",
    responses=responses(
        NotAuthenticated,
        Forbidden,
        AccountBlocked,
        NotFound,
        ModelNotFound,
        MaxTokensTooLarge,
        ContextLengthExceeded,
        ProviderUnavailable,
    ),
)
async def try_prompt(
    staff: CatalogueWriter, session: SessionDep, body: PlaygroundIn, request: Request, ctx: RequestCtx,
    audit_ctx: AuditCtx,
) -> PlaygroundOut:  # fmt: skip
    """One answer of the model to the dialogue under the role's (or the unsaved) system prompt: a staff
    test, at the operator's cost (no quota, no credits), recorded with `staff_test` and audited."""
    return await playground.run(
        session, request.app.state.gateway, staff, body, ctx=ctx, audit_ctx=audit_ctx, at=utcnow()
    )
