"""All SQL of sessions, refresh tokens, one-time tokens, API keys and recovery codes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.auth.models import ApiKey, AuthSession, OneTimeToken, RecoveryCode, RefreshToken


async def add(session: AsyncSession, row) -> None:
    session.add(row)
    await session.flush()


async def get_session(session: AsyncSession, session_id: uuid.UUID) -> AuthSession | None:
    return await session.get(AuthSession, session_id)


async def account_of_live_session(
    session: AsyncSession, account_id: uuid.UUID, session_id: uuid.UUID, at: datetime
) -> tuple[Account, uuid.UUID | None] | None:
    """The account and the session's impersonator (None: the account itself), if `session_id` is one of
    its sessions, not revoked nor expired (one query per request)."""
    row = (
        await session.execute(
            select(Account, AuthSession.impersonator_id)
            .join(AuthSession, AuthSession.account_id == Account.id)
            .where(
                Account.id == account_id,
                AuthSession.id == session_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > at,
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def get_refresh_token(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def mark_refresh_token_used(session: AsyncSession, token_id: uuid.UUID, at: datetime) -> bool:
    """Claim a refresh token for rotation: True for exactly one caller, however many race for it."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=at)
    )
    return result.rowcount == 1


async def revoke_sessions(
    session: AsyncSession,
    account_id: uuid.UUID,
    *,
    at: datetime,
    reason: str,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> int:
    query = update(AuthSession).where(AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None))
    if only is not None:
        query = query.where(AuthSession.id == only)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    result = await session.execute(query.values(revoked_at=at, revoked_reason=reason))
    return result.rowcount


async def get_one_time_token(session: AsyncSession, token_hash: str, purpose: str) -> OneTimeToken | None:
    return await session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == token_hash, OneTimeToken.purpose == purpose)
    )


async def use_one_time_tokens(
    session: AsyncSession, account_id: uuid.UUID, purpose: str, at: datetime
) -> None:
    """Spend every open token of this purpose for the account (one link used: the others die too)."""
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.account_id == account_id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=at)
    )


async def get_api_key(session: AsyncSession, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def list_api_keys(session: AsyncSession, account_id: uuid.UUID) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at.desc())
    return list((await session.scalars(query)).all())


async def get_own_api_key(session: AsyncSession, account_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    """Scoped to its owner: someone else's key is not found."""
    return await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account_id))


async def list_sessions(session: AsyncSession, account_id: uuid.UUID) -> list[AuthSession]:
    query = (
        select(AuthSession)
        .where(AuthSession.account_id == account_id)
        .order_by(AuthSession.created_at.desc())
    )
    return list((await session.scalars(query)).all())


async def replace_recovery_codes(
    session: AsyncSession, account_id: uuid.UUID, code_hashes: list[str], at: datetime
) -> None:
    await delete_recovery_codes(session, account_id)
    session.add_all([RecoveryCode(account_id=account_id, code_hash=h, created_at=at) for h in code_hashes])
    await session.flush()


async def delete_recovery_codes(session: AsyncSession, account_id: uuid.UUID) -> None:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))


# ---------------------------------------------------------------- ending access (api/auth/sessions.py)


async def revoke_api_keys(session: AsyncSession, account_id: uuid.UUID, *, at: datetime) -> int:
    """Revoke every live API key of the account: how many."""
    live = update(ApiKey).where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None))
    result = await session.execute(live.values(revoked_at=at))
    return result.rowcount


async def impersonator_behind(session: AsyncSession, session_id: uuid.UUID, at: datetime) -> Account | None:
    """The admin who opened impersonation session `session_id`, while the admin's own session that opened
    it is live (not revoked nor expired); else None."""
    opened = AuthSession.__table__.alias("opened")  # AuthSession below: the admin's own session
    return await session.scalar(
        select(Account)
        .join(AuthSession, AuthSession.account_id == Account.id)
        .join(
            opened,
            (opened.c.impersonator_session_id == AuthSession.id) & (opened.c.impersonator_id == Account.id),
        )
        .where(opened.c.id == session_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > at)
    )


async def revoke_impersonations_by(
    session: AsyncSession, impersonator_id: uuid.UUID, *, at: datetime, reason: str
) -> int:
    """Revoke the live impersonation sessions an admin opened: how many."""
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.impersonator_id == impersonator_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
    )
    return result.rowcount


async def unused_recovery_codes(session: AsyncSession, account_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The account's recovery codes not used yet: (id, stored hash)."""
    query = select(RecoveryCode.id, RecoveryCode.code_hash).where(
        RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None)
    )
    return [(row.id, row.code_hash) for row in await session.execute(query)]


async def spend_recovery_code(session: AsyncSession, code_id: uuid.UUID, at: datetime) -> bool:
    """Mark one recovery code used: True for exactly one caller, however many race for it."""
    result = await session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == code_id, RecoveryCode.used_at.is_(None))
        .values(used_at=at)
    )
    return result.rowcount == 1
