"""The email outbox: mails are written in the transaction that wants them, and delivered after commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTasks

from api.core import rate_limit
from api.core.crypto import token_hash
from api.core.settings import Settings
from api.core.types import utcnow
from api.mail import repository as repo
from api.mail.models import EmailMessage
from api.mail.sender import Sender

log = logging.getLogger("aiadmin.mail")
MAX_ATTEMPTS = 5


def enqueue(
    session: AsyncSession, *, to: str, subject: str, body: str, kind: str, at: datetime
) -> EmailMessage:
    message = EmailMessage(to_address=to, subject=subject, body=body, kind=kind, created_at=at)
    repo.add(session, message)
    return message


async def forget_address(session: AsyncSession, address: str, replacement: str) -> None:
    """An account's deletion (decision 0047): its pending mails dropped, the record of the sent ones kept
    under `replacement`, in the caller's transaction."""
    await repo.forget_address(session, address, replacement)


async def deliver_pending(sessionmaker: async_sessionmaker, sender: Sender, *, limit: int = 50) -> int:
    """Send unsent mails; returns how many went out. No transaction is held while a mail is sent.

    Each attempt is claimed first (attempts + 1 where attempts is still what we read), so two
    deliverers never send the same attempt; a failed send stays pending until MAX_ATTEMPTS. A mail sent
    or given up loses its body, which may hold a live link (EmailMessage).
    """
    sent = 0
    async with sessionmaker() as session:
        pending = await repo.pending(session, max_attempts=MAX_ATTEMPTS, limit=limit)
        await session.commit()
        for message_id, attempts in pending:
            row = await repo.claim_attempt(session, message_id, attempts)
            await session.commit()
            if row is None:
                continue
            try:
                await sender.send(row.to_address, row.subject, row.body)
            except Exception as exc:  # any failure of the mail server: keep the mail for a retry
                log.warning("email %s not sent (attempt %s): %s", message_id, attempts + 1, exc)
                await repo.record_failure(
                    session, message_id, str(exc)[:500], given_up=attempts + 1 >= MAX_ATTEMPTS
                )
            else:
                await repo.mark_sent(session, message_id, utcnow())
                sent += 1
            await session.commit()
    return sent


async def count_request(
    session: AsyncSession, settings: Settings, *, to: str, ip: str | None, at: datetime
) -> None:
    """Count a public request that may send mail to `to` (whether or not it will: the count must not tell
    whether the address has an account), per address and per client IP; commits. Past either limit in
    the window: 429 `too_many_requests` with Retry-After, and no mail."""
    buckets = {f"mail:to:{token_hash(settings, to.lower())}": settings.mail_requests_per_address}
    if ip:
        buckets[f"mail:ip:{ip[:64]}"] = settings.mail_requests_per_ip
    await rate_limit.hit(
        session,
        buckets,
        window=timedelta(minutes=settings.mail_requests_window_minutes),
        at=at,
        message="too many emails asked for this address or from this network: try again later",
    )


def after_response(
    background: BackgroundTasks, state, work: Callable[[AsyncSession], Awaitable[object]] | None = None
) -> None:
    """Run `work` (if any) in a session of its own once the response has gone, then deliver what is queued.

    For an answer that must not depend on what the work finds (whether an address has an account): the
    client has its answer before the work begins, so neither the answer nor its time can tell.
    """

    async def run() -> None:
        try:
            if work is not None:
                async with state.db.sessionmaker() as session:
                    await work(session)
        except Exception:  # the client has its answer already: log the failure, still deliver the rest
            log.exception("work after the response failed")
        await deliver_all(state.db.sessionmaker, state.mailer)

    background.add_task(run)


async def deliver_all(sessionmaker: async_sessionmaker, sender: Sender, *, batch: int = 50) -> int:
    """Deliver batch after batch until the outbox holds nothing ready (the background job's run)."""
    total = 0
    while (sent := await deliver_pending(sessionmaker, sender, limit=batch)) == batch:
        total += sent
    return total + sent
