"""`/api/v1/admin/users/{id}/chats`: a user's chats for moderation (conversations:read). Reading a
transcript is written to the audit log, like a change: who read whose conversation, when, from where."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.deps import AuditCtx, ConversationsReader
from api.chats import service as chats
from api.chats.schemas import ChatOut, ChatWithMessages, MessageOut
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import SafeStr

router = APIRouter(prefix="/api/v1/admin/users", tags=["admin: moderation"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)


@router.get("/{account_id}/chats", responses=ERRORS)
async def user_chats(
    _staff: ConversationsReader,
    session: SessionDep,
    account_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ChatOut]:
    """The user's chats (titles and counts only), the most recently used first."""
    return [
        ChatOut.model_validate(c)
        for c in await chats.list_own(session, account_id, limit=limit, offset=offset)
    ]


@router.get("/{account_id}/chats/{chat_id}", responses=ERRORS)
async def user_chat_transcript(
    staff: ConversationsReader,
    session: SessionDep,
    audit_ctx: AuditCtx,
    account_id: uuid.UUID,
    chat_id: uuid.UUID,
    reason: Annotated[
        SafeStr | None, Query(max_length=500, description="why (kept in the audit log)")
    ] = None,
) -> ChatWithMessages:
    """The transcript; the read is audited (action `conversation.read`)."""
    chat, messages = await chats.read_transcript(
        session, staff, account_id, chat_id, reason=reason, at=utcnow(), context=audit_ctx
    )
    return ChatWithMessages(
        **ChatOut.model_validate(chat).model_dump(), messages=[MessageOut.model_validate(m) for m in messages]
    )
