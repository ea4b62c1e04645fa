"""`/api/v1/admin/moderation/flags`: the calls the guardrails refused, for a moderator to review
(moderation:review): dismiss one (audited), or block its user (users:write: the users' own block, with its
rules, event and audit row; every open flag of theirs closes with it). Next to the transcripts of
api/chats/moderation_router.py (conversations:read), which show a flagged chat's messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import AuditCtx, ModerationReviewer, RequestCtx, UsersWriter
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import SafeStr
from api.guardrails import service
from api.guardrails.service import FlagClosed

router = APIRouter(prefix="/api/v1/admin/moderation", tags=["admin: moderation"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)


class FlagOut(BaseModel):
    id: int
    created_at: datetime
    account_id: uuid.UUID
    email: str | None
    reference: str  # the refused call's id, chatcmpl-<hex>
    chat_id: uuid.UUID | None
    model_id: str | None
    role_id: str | None
    reason: str
    policy: str
    rule: str
    status: str
    reviewer_id: uuid.UUID | None
    reviewed_at: datetime | None
    review_note: str | None


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[SafeStr | None, Field(max_length=500, description="why (kept in the audit log)")] = None


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[SafeStr, Field(min_length=3, max_length=500, description="why (kept in the audit log)")]


class BlockOut(BaseModel):
    flag: FlagOut
    flags_closed: list[int]


# A flag's id as the database holds it (a bigint): a larger number is a 422, never a query that fails.
FlagId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/flags", responses=ERRORS)
async def list_flags(
    _staff: ModerationReviewer,
    session: SessionDep,
    status: Literal["open", "dismissed", "blocked", "all"] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[FlagOut]:
    """The flags (open ones by default), the newest first. A flag names the rule, never the text."""
    found = await service.list_flags(session, None if status == "all" else status, limit=limit, offset=offset)
    return [FlagOut(**f) for f in found]


@router.post("/flags/{flag_id}/dismiss", responses={**ERRORS, **responses(FlagClosed)})
async def dismiss_flag(
    staff: ModerationReviewer, session: SessionDep, flag_id: FlagId, body: DismissIn, audit_ctx: AuditCtx
) -> FlagOut:
    """Nothing to act on: the flag closes as `dismissed` (audited: `moderation.dismiss`)."""
    await service.dismiss(session, staff, flag_id, note=body.note, at=utcnow(), context=audit_ctx)
    return FlagOut(**await service.flag_view(session, flag_id))


@router.post("/flags/{flag_id}/block", responses={**ERRORS, **responses(FlagClosed)})
async def block_from_flag(
    staff: UsersWriter, session: SessionDep, flag_id: FlagId, body: BlockIn, ctx: RequestCtx,
    audit_ctx: AuditCtx,
) -> BlockOut:  # fmt: skip
    """Block the flag's user (as `POST /api/v1/admin/users/{id}/block` does: sessions and API keys end) and
    close every open flag of theirs as `blocked`; audited (`user.block` and `moderation.block`)."""
    _, closed = await service.block(
        session, staff, flag_id, reason=body.reason, at=utcnow(), ctx=ctx, context=audit_ctx
    )
    return BlockOut(flag=FlagOut(**await service.flag_view(session, flag_id)), flags_closed=closed)
