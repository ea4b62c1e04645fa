"""Operator actions on accounts (the `aiadmin` command): create staff, change a role, remove 2FA."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.models import ROLES, STAFF_ROLES, Account
from api.auth import service as auth
from api.auth import sessions as auth_sessions
from api.auth import two_factor
from api.chats import service as chats
from api.core.errors import AppError, EmailTaken, NotFound
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.quotas import (
    repository as quotas,  # quotas has no service yet (api/quotas/ belongs to another change)
)
from api.quotas.windows import (
    DAILY_REQUESTS,
    DAILY_TOKENS,
    MONTHLY_TOKENS,
    month_start,
    next_day,
    next_month,
    utc_day,
)
from api.security import service as security
from api.users.schemas import QuotaOut, UsageOut

OPERATOR = RequestContext(client="cli")


class UnknownRole(AppError):
    status_code = 422
    code = "unknown_role"


async def create_staff(
    session: AsyncSession, settings: Settings, *, email: str, password: str, role: str, at: datetime
) -> Account:
    """A staff account whose email counts as confirmed (an operator vouches for it)."""
    if role not in STAFF_ROLES:
        raise UnknownRole(f"{role!r} is not a staff role ({', '.join(STAFF_ROLES)})")
    if await accounts.get_account_by_email(session, email) is not None:
        raise EmailTaken(f"{email} already has an account: use `aiadmin set-role {email} {role}`")
    return await auth.register(
        session,
        settings,
        email=email,
        password=password,
        country=None,
        ctx=OPERATOR,
        at=at,
        role=role,
        verified=True,
    )


async def _by_email(session: AsyncSession, email: str) -> Account:
    account = await accounts.get_account_by_email(session, email)
    if account is None:
        raise NotFound(f"no account with the email {email}")
    return account


async def set_role(session: AsyncSession, *, email: str, role: str, at: datetime) -> Account:
    """Takes effect at the account's next request: roles are read from the database every time. A role
    without users:impersonate ends the impersonations the account opened (given back, it revives none)."""
    if role not in ROLES:
        raise UnknownRole(f"{role!r} is not a role ({', '.join(ROLES)})")
    account = await _by_email(session, email)
    before = account.role
    account.role = role
    await auth_sessions.end_impersonations_by(session, account, at=at)
    security.record(
        session,
        EventType.USER_ROLE_CHANGED,
        at=at,
        ctx=OPERATOR,
        account=account,
        details={"from": before, "to": role},
    )
    await session.commit()
    return account


async def reset_two_factor(session: AsyncSession, *, email: str, at: datetime) -> Account:
    account = await _by_email(session, email)
    await two_factor.reset(session, account, ctx=OPERATOR, at=at)
    return account


def _quota(used: int, limit: int | None, resets_at: datetime | None) -> QuotaOut:
    return QuotaOut(
        used=used, limit=limit, remaining=None if limit is None else max(0, limit - used), resets_at=resets_at
    )


async def usage(session: AsyncSession, account: Account, now: datetime) -> UsageOut:
    """Today's and this month's use against the plan's limits, and when each resets (UTC)."""
    plan = await accounts.get_plan(session, account.plan_code)
    day, month = utc_day(now), month_start(now)
    return UsageOut(
        plan=account.plan_code,
        requests_today=_quota(
            await quotas.used(session, account.id, DAILY_REQUESTS, day), plan.daily_requests, next_day(now)
        ),
        tokens_today=_quota(
            await quotas.used(session, account.id, DAILY_TOKENS, day), plan.tokens_per_day, next_day(now)
        ),
        tokens_this_month=_quota(
            await quotas.used(session, account.id, MONTHLY_TOKENS, month),
            plan.tokens_per_month,
            next_month(now),
        ),
        chats=_quota(await chats.count_own(session, account.id), plan.max_chats, None),
    )
