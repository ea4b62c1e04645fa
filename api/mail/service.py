"""The email outbox: mails are written in the transaction that wants them, and delivered after commit."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTasks

from api.core.types import utcnow
from api.mail.models import PURGED_BODY, EmailMessage
from api.mail.sender import Sender

log = logging.getLogger("aiadmin.mail")
MAX_ATTEMPTS = 5


def enqueue(
    session: AsyncSession, *, to: str, subject: str, body: str, kind: str, at: datetime
) -> EmailMessage:
    message = EmailMessage(to_address=to, subject=subject, body=body, kind=kind, created_at=at)
    session.add(message)
    return message


async def deliver_pending(sessionmaker: async_sessionmaker, sender: Sender, *, limit: int = 50) -> int:
    """Send unsent mails; returns how many went out. No transaction is held while a mail is sent.

    Each attempt is claimed first (attempts + 1 where attempts is still what we read), so two
    deliverers never send the same attempt; a failed send stays pending until MAX_ATTEMPTS. A mail sent
    or given up loses its body, which may hold a live link (EmailMessage).
    """
    sent = 0
    async with sessionmaker() as session:
        pending = (
            await session.execute(
                select(EmailMessage.id, EmailMessage.attempts)
                .where(EmailMessage.sent_at.is_(None), EmailMessage.attempts < MAX_ATTEMPTS)
                .order_by(EmailMessage.id)
                .limit(limit)
            )
        ).all()
        await session.commit()
        for message_id, attempts in pending:
            claimed = await session.execute(
                update(EmailMessage)
                .where(EmailMessage.id == message_id, EmailMessage.attempts == attempts)
                .values(attempts=attempts + 1)
                .returning(EmailMessage.to_address, EmailMessage.subject, EmailMessage.body)
            )
            row = claimed.one_or_none()
            await session.commit()
            if row is None:
                continue
            try:
                await sender.send(row.to_address, row.subject, row.body)
            except Exception as exc:  # any failure of the mail server: keep the mail for a retry
                log.warning("email %s not sent (attempt %s): %s", message_id, attempts + 1, exc)
                given_up = {"body": PURGED_BODY} if attempts + 1 >= MAX_ATTEMPTS else {}
                await session.execute(
                    update(EmailMessage)
                    .where(EmailMessage.id == message_id)
                    .values(last_error=str(exc)[:500], **given_up)
                )
            else:
                await session.execute(
                    update(EmailMessage)
                    .where(EmailMessage.id == message_id)
                    .values(sent_at=utcnow(), body=PURGED_BODY)
                )
                sent += 1
            await session.commit()
    return sent


def deliver_after_response(background: BackgroundTasks, state) -> None:
    """Send what a request queued once its response has gone (the mail job would, within seconds)."""
    background.add_task(deliver_all, state.db.sessionmaker, state.mailer)


async def deliver_all(sessionmaker: async_sessionmaker, sender: Sender, *, batch: int = 50) -> int:
    """Deliver batch after batch until the outbox holds nothing ready (the background job's run)."""
    total = 0
    while (sent := await deliver_pending(sessionmaker, sender, limit=batch)) == batch:
        total += sent
    return total + sent
