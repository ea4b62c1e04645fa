"""Personal API keys: shown once at creation, stored as a keyed hash, usable as the Bearer for /v1/*."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.auth import repository as auth_repo
from api.auth.models import ApiKey
from api.core.crypto import new_token, token_hash
from api.core.errors import NotFound
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.security import service as security

PREFIX = "aia_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def looks_like_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


async def create(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    name: str,
    *,
    ctx: RequestContext,
    at: datetime,
) -> tuple[ApiKey, str]:
    plaintext = PREFIX + new_token(32)
    key = ApiKey(
        account_id=account.id,
        name=name,
        prefix=plaintext[:12],
        key_hash=token_hash(settings, plaintext),
        created_at=at,
    )
    await auth_repo.add(session, key)
    security.record(
        session,
        EventType.SECURITY_API_KEY_CREATED,
        at=at,
        ctx=ctx,
        account=account,
        details={"key_id": str(key.id)},
    )
    await session.commit()
    return key, plaintext


async def revoke(
    session: AsyncSession, account: Account, key_id: uuid.UUID, *, ctx: RequestContext, at: datetime
) -> None:
    key = await auth_repo.get_own_api_key(session, account.id, key_id)
    if key is None:
        raise NotFound("no such API key")
    if key.revoked_at is None:
        key.revoked_at = at
        security.record(
            session,
            EventType.SECURITY_API_KEY_REVOKED,
            at=at,
            ctx=ctx,
            account=account,
            details={"key_id": str(key.id)},
        )
        await session.commit()


async def resolve(session: AsyncSession, settings: Settings, token: str, at: datetime) -> ApiKey | None:
    """The live key this token is, or None; notes when it was last used (to the minute)."""
    key = await auth_repo.get_api_key(session, token_hash(settings, token))
    if key is None or key.revoked_at is not None:
        return None
    if key.last_used_at is None or at - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = at
        await session.commit()
    return key


async def revoke_all(session: AsyncSession, account_id: uuid.UUID, *, at: datetime) -> int:
    """Revoke every live key of the account, in the caller's transaction (a block, a password reset): how
    many. A revoked key is never revived."""
    return await auth_repo.revoke_api_keys(session, account_id, at=at)
