"""Registration and login. Each commits its domain rows and its usage event together."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import AccountBlocked, AppError, EmailTaken, InvalidCredentials
from api.core.security import (
    DUMMY_PASSWORD_HASH,
    AccessToken,
    hash_password,
    issue_access_token,
    verify_password,
)
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.users import repository as users
from api.users.models import Account

DEFAULT_PLAN = "free"


async def register(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    country: str | None,
    ctx: RequestContext,
    at: datetime,
    role: str = "user",
) -> Account:
    if await users.get_account_by_email(session, email) is not None:
        raise EmailTaken("an account with this email already exists")
    account = Account(
        email=email,
        password_hash=hash_password(password),
        role=role,
        plan_code=DEFAULT_PLAN,
        country=country or ctx.country,
        created_at=at,
    )
    try:
        await users.add_account(session, account)
    except IntegrityError as exc:  # a concurrent registration of the same email won the race
        await session.rollback()
        raise EmailTaken("an account with this email already exists") from exc
    record(
        session,
        EventType.USER_REGISTERED,
        at=at,
        ctx=ctx,
        **about(account),
        status="ok",
        properties={"role": role},
    )
    await session.commit()
    return account


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    ctx: RequestContext,
    at: datetime,
) -> AccessToken:
    account = await users.get_account_by_email(session, email)
    # Verify against a dummy hash when the email is unknown: same answer, same time.
    valid = verify_password(account.password_hash if account else DUMMY_PASSWORD_HASH, password)
    if account is None or not valid:
        await _login_failed(session, account, InvalidCredentials("wrong email or password"), ctx, at)
    if account.is_blocked:
        await _login_failed(session, account, AccountBlocked("this account is blocked"), ctx, at)
    account.last_login_at = at
    record(
        session,
        EventType.USER_LOGIN_SUCCEEDED,
        at=at,
        ctx=ctx,
        **about(account),
        status="ok",
    )
    await session.commit()
    return issue_access_token(settings, account.id, now=at)


async def _login_failed(
    session: AsyncSession, account: Account | None, error: AppError, ctx: RequestContext, at: datetime
) -> NoReturn:
    """Record the failed attempt (committed: it must survive the refusal), then refuse."""
    record(
        session,
        EventType.USER_LOGIN_FAILED,
        at=at,
        ctx=ctx,
        **about(account),
        status="error",
        error_code=error.code,
    )
    await session.commit()
    raise error
