"""A user's chats: listed, read, renamed and deleted by their owner (someone else's chat is not found);
read by staff for moderation, each transcript read audited like a change."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.chats import repository as chats
from api.chats.models import Chat, Message
from api.core.errors import NotFound


async def own_chat(session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID) -> Chat:
    chat = await chats.get_own(session, account_id, chat_id)
    if chat is None:
        raise NotFound("no such chat")
    return chat


async def list_own(
    session: AsyncSession, account_id: uuid.UUID, *, limit: int, offset: int, q: str | None = None
) -> list[Chat]:
    """The account's chats, the most recently used first; with `q`, those whose title or a message holds it
    (any case)."""
    return await chats.list_own(session, account_id, limit=limit, offset=offset, q=q)


def export_own(account_id: uuid.UUID) -> Select:
    """The query of the account's whole history for an export: (chat, message or None) rows, grouped by
    chat (api/chats/repository.py `export_own`)."""
    return chats.export_own(account_id)


async def count_own(session: AsyncSession, account_id: uuid.UUID) -> int:
    return await chats.count_own(session, account_id)


async def read_own(
    session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID
) -> tuple[Chat, list[Message]]:
    """The chat and its messages."""
    chat = await own_chat(session, account_id, chat_id)
    return chat, await chats.messages(session, chat.id)


async def rename_own(
    session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID, title: str, at: datetime
) -> Chat:
    chat = await own_chat(session, account_id, chat_id)
    chat.title = title
    chat.updated_at = at
    await session.commit()
    return chat


async def delete_own(session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID) -> None:
    """Deletes the chat and its messages (the usage events, which hold no text, stay)."""
    if not await chats.delete_own(session, account_id, chat_id):
        raise NotFound("no such chat")
    await session.commit()


async def erase_all_own(session: AsyncSession, account_id: uuid.UUID) -> int:
    """Every chat of the account and its messages, in the caller's transaction (an account's deletion):
    how many chats. The usage events, which hold no text, stay."""
    return await chats.delete_all_own(session, account_id)


async def read_transcript(
    session: AsyncSession, staff: Account, account_id: uuid.UUID, chat_id: uuid.UUID, *, reason: str | None,
    at: datetime, context: AuditContext,
) -> tuple[Chat, list[Message]]:  # fmt: skip
    """A user's chat read by staff for moderation; the read is audited (action `conversation.read`)."""
    chat, messages = await read_own(session, account_id, chat_id)
    await audit.commit_audited(
        session, staff, "conversation.read", target_type="chat", target_id=str(chat.id), before={},
        after={"account_id": str(account_id), "messages": len(messages)}, at=at, context=context,
        reason=reason,
    )  # fmt: skip
    return chat, messages


async def read_call_messages(
    session: AsyncSession, staff: Account, account_id: uuid.UUID, chat_id: uuid.UUID, at: datetime, *,
    call_id: int, reason: str | None, now: datetime, context: AuditContext,
) -> list[Message]:  # fmt: skip
    """The messages one call kept in a user's chat (none if the chat was deleted), read by staff; the read is
    audited (action `conversation.read`, as a transcript's)."""
    found = await chats.messages_at(session, account_id, chat_id, at)
    await audit.commit_audited(
        session, staff, "conversation.read", target_type="chat", target_id=str(chat_id), before={},
        after={"account_id": str(account_id), "call_id": call_id, "messages": len(found)}, at=now,
        context=context, reason=reason,
    )  # fmt: skip
    return found
