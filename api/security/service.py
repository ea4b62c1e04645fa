"""Write the security log (each entry is also a usage event, in the same transaction), and keep the counters
that throttle password and second-factor checks (docs/decisions/0032)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.events import outbox
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.security import repository as security_log
from api.security.models import SecurityEvent


def record(
    session: AsyncSession,
    event: EventType,
    *,
    at: datetime,
    ctx: RequestContext,
    account: Account | None,
    email: str | None = None,
    ok: bool = True,
    error_code: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Who, when, from where (IP, user agent), what and how it ended; the caller commits."""
    details = details or {}
    session.add(
        SecurityEvent(
            occurred_at=at,
            kind=event.value,
            outcome="success" if ok else "failure",
            account_id=account.id if account else None,
            email=email or (account.email if account else None),
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            details={**details, **({"error_code": error_code} if error_code else {})},
        )
    )
    outbox.record(
        session,
        event,
        at=at,
        ctx=ctx,
        **outbox.about(account),
        status="ok" if ok else "error",
        error_code=error_code,
        properties=details,
    )


async def forget_email(session: AsyncSession, account_id: uuid.UUID, email: str, replacement: str) -> None:
    """An account's deletion (decision 0047): its entries stay (who did what, when, from where), under the
    account's tombstone address instead of its email, in the caller's transaction."""
    await security_log.forget_email(session, account_id, email, replacement)


async def events(
    session: AsyncSession,
    *,
    account_id: uuid.UUID | None = None,
    email: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SecurityEvent]:
    """Login history and the security log, newest first; an email is matched as typed at login (trimmed,
    lower case)."""
    return await security_log.list_events(
        session,
        account_id=account_id,
        email=email.strip().lower() if email else None,
        kind=kind,
        limit=limit,
        offset=offset,
    )


def export_query(
    *, account_id: uuid.UUID | None, email: str | None, kind: str | None
) -> tuple[Select, list[str]]:
    """The matching events as exported (the query and its columns), for api.core.exports to stream."""
    query = security_log.events_query(
        account_id=account_id, email=email.strip().lower() if email else None, kind=kind, columns=True
    )
    return query, list(security_log.COLUMNS)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One throttling key and how many attempts it allows per window. A `shared` key (a source, for every
    account) gives back the attempt of a check that passed; any other starts again from nothing."""

    scope: str
    key: str
    limit: int
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Lockout:
    bucket: Bucket
    lasts: timedelta


async def signed_in_from(session: AsyncSession, *, email: str, ip: str, since: datetime) -> bool:
    """Whether the account of `email` signed in from `ip` since `since` (one of its usual sources)."""
    return await security_log.signed_in_from(session, email=email, ip=ip, since=since)


async def take_attempts(
    session: AsyncSession, buckets: list[Bucket], *, at: datetime, window: timedelta, max_lockout: timedelta
) -> int | None:
    """Take one attempt in every bucket, or in none: then the seconds until the bucket that refused opens
    again. Keys are taken in one order, so that simultaneous takers cannot deadlock; the caller commits."""
    taken: list[str] = []
    for bucket in sorted(buckets, key=lambda b: b.key):
        if not await security_log.take_attempt(
            session,
            bucket.key,
            at=at,
            limit=bucket.limit,
            new_window_before=at - window,
            forget_before=at - max_lockout,
        ):
            if taken:
                await security_log.give_back_attempt(session, taken)
            return await _retry_after(session, bucket, at, window)
        taken.append(bucket.key)
    return None


async def _retry_after(session: AsyncSession, bucket: Bucket, at: datetime, window: timedelta) -> int:
    counter = await security_log.get_attempts(session, bucket.key)
    if counter is None:
        return 1
    blocked = counter.blocked_until is not None and counter.blocked_until > at
    opens = counter.blocked_until if blocked else counter.window_start + window
    return max(1, math.ceil((opens - at).total_seconds()))


async def attempts_failed(
    session: AsyncSession, buckets: list[Bucket], *, at: datetime, window: timedelta, max_lockout: timedelta
) -> list[Lockout]:
    """The check these attempts were taken for failed: they stay counted, and a bucket now full is blocked
    for the window times two to the power of its earlier lockouts (at most `max_lockout`). The lockouts
    this failure started (the caller records them and commits)."""
    started = []
    for bucket in buckets:
        counter = await security_log.get_attempts(session, bucket.key)
        if counter is None or counter.attempts < bucket.limit:
            continue
        lasts = min(window * 2 ** min(counter.lockouts, 16), max_lockout)
        if await security_log.block_attempts(
            session, bucket.key, limit=bucket.limit, lockouts=counter.lockouts, until=at + lasts
        ):
            started.append(Lockout(bucket, lasts))
    return started


async def attempts_passed(session: AsyncSession, buckets: list[Bucket]) -> None:
    """The check passed: each bucket starts again, but for shared ones, which give this attempt back."""
    if own := [b.key for b in buckets if not b.shared]:
        await security_log.forget_attempts(session, own)
    if shared := [b.key for b in buckets if b.shared]:
        await security_log.give_back_attempt(session, shared)
