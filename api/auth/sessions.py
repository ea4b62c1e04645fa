"""What ends an account's access from outside its own sign-out, and how long an impersonation lives.

- A **block** ends every session of the account (so its access and refresh tokens) and every API key.
  An unblock revives none: a revoked row stays revoked, and the account signs in again.
- A **password reset** ends the API keys as well as the sessions (api/auth/service.py, with
  `api_keys.revoke_all`).
- An **impersonation** session (an admin acting as an end user, api/users/admin.py) lives only while the
  admin's own session that opened it lives, the admin is not blocked and the admin's role still grants
  `users:impersonate`. It is checked on every request made with it (so every way the admin's session can
  end counts: sign-out, sign-out everywhere, a password change or reset, a block, expiry), and a
  session found ended is revoked, so nothing brings it back; a role change that takes the permission away
  revokes the impersonations the account opened at once.

(Decision record 0031.)
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.auth import api_keys
from api.auth import repository as auth_repo
from api.auth.models import AuthSession
from api.auth.permissions import Permission, allowed
from api.events.outbox import RequestContext

BLOCKED = "blocked"
IMPERSONATION_ENDED = "impersonation_ended"


async def end_all(session: AsyncSession, account_id: uuid.UUID, *, at: datetime) -> tuple[int, int]:
    """End every session and API key of a blocked account (in the caller's transaction): how many of
    each."""
    sessions = await auth_repo.revoke_sessions(session, account_id, at=at, reason=BLOCKED)
    keys = await api_keys.revoke_all(session, account_id, at=at)
    return sessions, keys


async def open_impersonation(
    session: AsyncSession,
    target: Account,
    impersonator: Account,
    impersonator_session_id: uuid.UUID,
    *,
    at: datetime,
    expires_at: datetime,
    ctx: RequestContext,
) -> AuthSession:
    """A session as `target`, marked with the admin and the admin's session that opened it (the caller
    commits)."""
    auth_session = AuthSession(
        account_id=target.id,
        created_at=at,
        expires_at=expires_at,
        last_used_at=at,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        impersonator_id=impersonator.id,
        impersonator_session_id=impersonator_session_id,
    )
    await auth_repo.add(session, auth_session)
    return auth_session


def may_impersonate(account: Account) -> bool:
    return not account.is_blocked and allowed(account.role, Permission.USERS_IMPERSONATE)


async def impersonation_lives(
    session: AsyncSession, account_id: uuid.UUID, session_id: uuid.UUID, at: datetime
) -> bool:
    """Does the impersonation session `session_id` (of `account_id`) still have a live admin behind it?
    If not, it is revoked and committed: it stays ended whatever happens to the admin next."""
    admin = await auth_repo.impersonator_behind(session, session_id, at)
    if admin is not None and may_impersonate(admin):
        return True
    await auth_repo.revoke_sessions(session, account_id, at=at, reason=IMPERSONATION_ENDED, only=session_id)
    await session.commit()
    return False


async def end_impersonations_by(session: AsyncSession, account: Account, *, at: datetime) -> int:
    """End the impersonations `account` opened, unless it may still impersonate (after a role change; in
    the caller's transaction): how many."""
    if may_impersonate(account):
        return 0
    return await auth_repo.revoke_impersonations_by(session, account.id, at=at, reason=IMPERSONATION_ENDED)
