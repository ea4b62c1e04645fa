"""All SQL of the email outbox: queue a mail, find the pending ones, claim one attempt, record how it went.
Repositories flush, never commit: the service owns the transaction (the deliverer commits between steps so
that no transaction is held while a mail is sent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.mail.models import PURGED_BODY, EmailMessage


def add(session: AsyncSession, message: EmailMessage) -> None:
    session.add(message)


async def pending(session: AsyncSession, *, max_attempts: int, limit: int) -> Sequence[Row]:
    """(id, attempts) of unsent mails with attempts left, oldest first."""
    return (
        await session.execute(
            select(EmailMessage.id, EmailMessage.attempts)
            .where(EmailMessage.sent_at.is_(None), EmailMessage.attempts < max_attempts)
            .order_by(EmailMessage.id)
            .limit(limit)
        )
    ).all()


async def claim_attempt(session: AsyncSession, message_id: int, attempts: int) -> Row | None:
    """Count one more attempt if the mail still has `attempts` (no other deliverer took it): its
    (to_address, subject, body), or None."""
    claimed = await session.execute(
        update(EmailMessage)
        .where(EmailMessage.id == message_id, EmailMessage.attempts == attempts)
        .values(attempts=attempts + 1)
        .returning(EmailMessage.to_address, EmailMessage.subject, EmailMessage.body)
    )
    return claimed.one_or_none()


async def record_failure(session: AsyncSession, message_id: int, error: str, *, given_up: bool) -> None:
    """Keep the error; a mail given up loses its body."""
    purge = {"body": PURGED_BODY} if given_up else {}
    await session.execute(
        update(EmailMessage).where(EmailMessage.id == message_id).values(last_error=error, **purge)
    )


async def mark_sent(session: AsyncSession, message_id: int, at: datetime) -> None:
    """Sent: the body (which may hold a live link) goes."""
    await session.execute(
        update(EmailMessage).where(EmailMessage.id == message_id).values(sent_at=at, body=PURGED_BODY)
    )


async def forget_address(session: AsyncSession, address: str, replacement: str) -> None:
    """Mails not yet sent to `address` dropped (their bodies may hold live links); the delivered ones' record
    kept under `replacement`."""
    to = EmailMessage.to_address == address
    await session.execute(delete(EmailMessage).where(to, EmailMessage.sent_at.is_(None)))
    await session.execute(update(EmailMessage).where(to).values(to_address=replacement, body=PURGED_BODY))
