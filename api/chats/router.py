"""`/api/v1/chats`: the caller's chats; someone else's chat is not found."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from api.auth.deps import CurrentAccount
from api.chats import service as chats
from api.chats.schemas import ChatOut, ChatWithMessages, MessageOut, RenameIn
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, NotAuthenticated, NotFound, responses
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/chats", tags=["chats"])
ERRORS = responses(NotAuthenticated, AccountBlocked, NotFound)


@router.get("", responses=ERRORS)
async def list_chats(
    account: CurrentAccount,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ChatOut]:
    """The caller's chats, the most recently used first."""
    return [
        ChatOut.model_validate(c)
        for c in await chats.list_own(session, account.id, limit=limit, offset=offset)
    ]


@router.get("/{chat_id}", responses=ERRORS)
async def read_chat(chat_id: uuid.UUID, account: CurrentAccount, session: SessionDep) -> ChatWithMessages:
    chat, messages = await chats.read_own(session, account.id, chat_id)
    return ChatWithMessages(
        **ChatOut.model_validate(chat).model_dump(), messages=[MessageOut.model_validate(m) for m in messages]
    )


@router.patch("/{chat_id}", responses=ERRORS)
async def rename_chat(
    chat_id: uuid.UUID, body: RenameIn, account: CurrentAccount, session: SessionDep
) -> ChatOut:
    return ChatOut.model_validate(await chats.rename_own(session, account.id, chat_id, body.title, utcnow()))


@router.delete("/{chat_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_chat(chat_id: uuid.UUID, account: CurrentAccount, session: SessionDep) -> Response:
    """Deletes the chat and its messages (the usage events, which hold no text, stay)."""
    await chats.delete_own(session, account.id, chat_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{chat_id}/export",
    responses={**ERRORS, 200: {"model": ChatWithMessages, **exports.CSV_ALTERNATIVE[200]}},
    response_class=Response,
)
async def export_chat(
    chat_id: uuid.UUID,
    account: CurrentAccount,
    session: SessionDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """The chat as a file: JSON (the chat and its messages) or CSV (one row per message)."""
    chat = await read_chat(chat_id, account, session)
    filename = f"chat-{chat.id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "json":
        return Response(chat.model_dump_json(indent=2), media_type="application/json", headers=headers)
    text = exports.csv_text(
        ["created_at", "role", "model_id", "tokens", "content"],
        ([m.created_at.isoformat(), m.role, m.model_id or "", m.tokens, m.content] for m in chat.messages),
    )
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
