"""`/api/v1/chats`: the caller's chats; someone else's chat is not found."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status

from api.auth.deps import CurrentAccount
from api.chats import service as chats
from api.chats.schemas import ChatOut, ChatWithMessages, MessageOut, RenameIn
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import SafeStr

router = APIRouter(prefix="/api/v1/chats", tags=["chats"])
ERRORS = responses(NotAuthenticated, AccountBlocked, NotFound)


@router.get("", responses=ERRORS)
async def list_chats(
    account: CurrentAccount,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[
        SafeStr | None,
        Query(
            max_length=200,
            description="only the chats whose title or a message holds this text, in any case (`%` and `_` "
            "are literal; on SQLite only ASCII letters match across case)",
        ),
    ] = None,
) -> list[ChatOut]:
    """The caller's chats, the most recently used first; with `q`, a search of their titles and
    messages (the caller's own chats only)."""
    found = await chats.list_own(session, account.id, limit=limit, offset=offset, q=q or None)
    return [ChatOut.model_validate(c) for c in found]


CSV_HEADER = ["chat_id", "chat_title", "created_at", "role", "model_id", "tokens", "content"]


@router.get(
    "/export",
    responses={**ERRORS, 200: {"model": list[ChatWithMessages], **exports.CSV_ALTERNATIVE[200]}},
    response_class=Response,
)
async def export_history(
    request: Request,
    account: CurrentAccount,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Response:
    """Every chat of the caller with its messages, as one file, streamed (memory holds a page of rows, not
    the history): JSON, an array of chats as `GET /{chat_id}` gives each (`[]` with none), or CSV, one row
    per message with its chat's id and title (a chat without messages: one row with empty message
    columns), cells that would run as a spreadsheet formula made inert. The most recently used chat first,
    as the list."""
    query = chats.export_own(account.id)
    sessionmaker = request.app.state.db.sessionmaker
    if format == "json":
        return exports.json_array_response(sessionmaker, query, _chats_with_messages, "chats")
    return exports.csv_response(sessionmaker, query, CSV_HEADER, _csv_row, "chats")


async def _chats_with_messages(rows: AsyncIterator[Any]) -> AsyncIterator[ChatWithMessages]:
    """(chat, message or None) rows, consecutive per chat, as one chat with its messages each."""
    current: ChatWithMessages | None = None
    async for chat, message in rows:
        if current is None or current.id != chat.id:
            if current is not None:
                yield current
            current = ChatWithMessages(**ChatOut.model_validate(chat).model_dump(), messages=[])
        if message is not None:
            current.messages.append(MessageOut.model_validate(message))
    if current is not None:
        yield current


def _csv_row(row: Any) -> list[Any]:
    chat, m = row
    if m is None:
        return [chat.id, chat.title, "", "", "", "", ""]
    return [chat.id, chat.title, m.created_at.isoformat(), m.role, m.model_id or "", m.tokens, m.content]


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
