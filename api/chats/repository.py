"""All SQL of chats and messages; every read is scoped to the owner (someone else's chat is not found)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy import exists as any_row
from sqlalchemy.ext.asyncio import AsyncSession

from api.chats.models import Chat, Message


async def get_own(session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID) -> Chat | None:
    return await session.scalar(select(Chat).where(Chat.id == chat_id, Chat.account_id == account_id))


async def exists(session: AsyncSession, chat_id: uuid.UUID) -> bool:
    return await session.scalar(select(func.count()).select_from(Chat).where(Chat.id == chat_id)) > 0


async def count_own(session: AsyncSession, account_id: uuid.UUID) -> int:
    return await session.scalar(select(func.count()).select_from(Chat).where(Chat.account_id == account_id))


async def list_own(
    session: AsyncSession, account_id: uuid.UUID, *, limit: int, offset: int, q: str | None = None
) -> list[Chat]:
    query = select(Chat).where(Chat.account_id == account_id).order_by(Chat.updated_at.desc(), Chat.id)
    if q:
        query = query.where(_mentions(q))
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


def _mentions(text: str):
    """The chat's title or one of its messages holds `text`, whatever the case (ASCII case on SQLite, whose
    lower() knows no other). `%`, `_` and the escape character in `text` are literal (autoescape), and the
    message search is correlated to chats already scoped to one account: it reads that account's messages
    only, through ix_messages_chat_id."""
    in_content = Message.content.icontains(text, autoescape=True)
    in_messages = any_row().where(Message.chat_id == Chat.id, in_content)
    return or_(Chat.title.icontains(text, autoescape=True), in_messages)


def export_own(account_id: uuid.UUID) -> Select:
    """Every chat of the account with its messages, a row per message (a chat without any: one row, its
    message None), the most recently used chat first, each chat's messages in order: for a streamed export
    that groups consecutive rows by chat."""
    return (
        select(Chat, Message)
        .outerjoin(Message, Message.chat_id == Chat.id)
        .where(Chat.account_id == account_id)
        .order_by(Chat.updated_at.desc(), Chat.id, Message.id)
    )


async def messages(session: AsyncSession, chat_id: uuid.UUID) -> list[Message]:
    return list(
        (await session.scalars(select(Message).where(Message.chat_id == chat_id).order_by(Message.id))).all()
    )


async def take_message_slots(
    session: AsyncSession, chat_id: uuid.UUID, count: int, limit: int | None, at: datetime
) -> bool:
    """Count `count` more messages in the chat unless that passes `limit` (atomic, like the quotas)."""
    statement = update(Chat).where(Chat.id == chat_id)
    if limit is not None:
        statement = statement.where(Chat.message_count + count <= limit)
    result = await session.execute(statement.values(message_count=Chat.message_count + count, updated_at=at))
    return result.rowcount == 1


async def give_back_message_slots(session: AsyncSession, chat_id: uuid.UUID, count: int) -> None:
    await session.execute(
        update(Chat)
        .where(Chat.id == chat_id, Chat.message_count >= count)
        .values(message_count=Chat.message_count - count)
    )


async def delete_own(session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Chat).where(Chat.id == chat_id, Chat.account_id == account_id))
    return result.rowcount == 1


async def delete_all_own(session: AsyncSession, account_id: uuid.UUID) -> int:
    """Every chat of the account and its messages (not left to the foreign key's cascade): how many chats."""
    own = select(Chat.id).where(Chat.account_id == account_id)
    await session.execute(delete(Message).where(Message.chat_id.in_(own)))
    result = await session.execute(delete(Chat).where(Chat.account_id == account_id))
    return result.rowcount


async def messages_at(session: AsyncSession, account_id: uuid.UUID, chat_id: uuid.UUID, at) -> list[Message]:
    """The messages one call kept in the account's chat: those written at the call's moment."""
    query = (
        select(Message)
        .join(Chat, Chat.id == Message.chat_id)
        .where(Chat.id == chat_id, Chat.account_id == account_id, Message.created_at == at)
        .order_by(Message.id)
    )
    return list((await session.scalars(query)).all())
