"""Operator actions on accounts (the `aiadmin` command): create staff, change a role, remove 2FA."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.models import ROLES, STAFF_ROLES, Account
from api.auth import service as auth
from api.auth import sessions as auth_sessions
from api.auth import two_factor
from api.auth.attempts import Purpose
from api.chats import service as chats
from api.core import idempotency
from api.core.errors import AppError, EmailTaken, Forbidden, NotAuthenticated, NotFound
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.events.types import EventType
from api.feedback import service as feedback
from api.mail import service as mail
from api.notifications import service as notifications
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


# ---------------------------------------------------------------- one's own profile and its deletion


async def update_profile(
    session: AsyncSession, account: Account, changes: dict[str, Any], *, ctx: RequestContext, at: datetime
) -> Account:
    """Change one's display name, language or country; what changed is logged (the names of the fields,
    and the new language and country, never the name) in the security log and as a usage event."""
    changed = sorted(name for name, value in changes.items() if getattr(account, name) != value)
    for name in changed:
        setattr(account, name, changes[name])
    if changed:
        told = {name: changes[name] for name in changed if name in ("locale", "country")}
        security.record(
            session, EventType.USER_PROFILE_UPDATED, at=at, ctx=ctx, account=account,
            details={"changed": changed, **told},
        )  # fmt: skip
    await session.commit()
    return account


class StaffAccountNotDeletable(Forbidden):
    code = "staff_account_not_deletable"


def tombstone_email(account_id: uuid.UUID) -> str:
    """What a deleted account's email becomes: unique, no one's, and no address registration accepts (the
    .invalid top-level domain is reserved, RFC 2606)."""
    return f"deleted-{account_id.hex}@deleted.invalid"


async def delete_account(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    password: str | None,
    code: str | None,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Delete one's own account, after the password (and the second factor when on) is checked again: what
    is erased and what is kept is docs/decisions/0047-account-deletion.md. One transaction: all or nothing.
    A staff account is refused (an operator removes it); an account deleted meanwhile (a second request at
    the same time) answers as any revoked credentials do."""
    if account.is_staff:
        raise StaffAccountNotDeletable(
            "a staff account is not deleted from here: an operator removes its role"
        )
    await auth.confirm_it_is_you(
        session,
        settings,
        account,
        password=password,
        code=code,
        purpose=Purpose.DELETE_ACCOUNT,
        ctx=ctx,
        at=at,
    )
    [account] = await accounts.lock_accounts(session, [account.id])
    if account.deleted_at is not None:
        raise NotAuthenticated("this account was deleted")
    email, tombstone = account.email, tombstone_email(account.id)
    ended = await auth.end_every_way_in(session, account, at=at)
    erased_chats = await chats.erase_all_own(session, account.id)
    await idempotency.forget(session, account.id)
    await feedback.forget_account(session, account.id)  # its comments; its scores stay, as its events
    await mail.forget_address(session, email, tombstone)
    await notifications.forget_account(session, account.id)
    await security.forget_email(session, account.id, email, tombstone)
    account.email = tombstone
    account.display_name = None
    account.country = None
    account.deleted_at = at
    security.record(
        session, EventType.USER_DELETED, at=at, ctx=ctx, account=account,
        details={**ended, "chats_erased": erased_chats},
    )  # fmt: skip
    await session.commit()
