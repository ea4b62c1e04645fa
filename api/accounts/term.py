"""How long an account keeps a plan it bought: a month a purchase, and back to the default plan after.

A plan bought with credits (POST /api/v1/me/plan, api/billing/plans.py) sets `accounts.plan_expires_at`.
Nothing renews it. Past that time the account is moved back to the default plan (the one registration
gives, an admin setting: `free` unless changed) lazily, by authentication (api/auth/deps.py), the one place
every caller passes through before anything reads its plan: the gateway (both of its books), /v1/models,
/api/v1/me and its roles and usage. One comparison a request; the move itself is one conditional UPDATE and
one `plan.changed` event, written once however many requests see the expiry at the same moment
(docs/decisions/0050-self-service-plan-purchase.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.accounts import settings as account_settings
from api.accounts.models import Account
from api.events.outbox import RequestContext, record
from api.events.types import EventType

TERM = timedelta(days=30)  # what one purchase buys


def has_lapsed(account: Account, at: datetime) -> bool:
    return account.plan_expires_at is not None and account.plan_expires_at <= at


def ends_after(account: Account, plan: str, at: datetime) -> datetime:
    """When `plan` ends if bought now: a month after the current end when it is the plan the account holds
    and that has not ended yet (buying again extends it), else a month from now."""
    current = account.plan_expires_at
    start = current if account.plan_code == plan and current is not None and current > at else at
    return start + TERM


async def lapse(session: AsyncSession, account: Account, *, at: datetime, ctx: RequestContext) -> None:
    """Move `account` (whose plan has ended: `has_lapsed`) back to the default plan, and commit. Only if the
    row still holds an ended plan: a request that did it first, or a purchase that extended the plan since,
    wins and nothing more is written. Either way `account` (attached to `session` or not: the gateway's fast
    lane reads it detached) then holds the row's plan and end."""
    fallback = await account_settings.default_plan(session)
    ended_at, before = account.plan_expires_at, account.plan_code
    moved = await session.scalar(
        update(Account)
        .where(Account.id == account.id, Account.plan_expires_at <= at)
        .values(plan_code=fallback, plan_expires_at=None)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    )
    if moved is not None:
        plan_code, expires_at = fallback, None
        record(
            session, EventType.PLAN_CHANGED, at=at, ctx=ctx, user_id=account.id, plan=fallback,
            country=account.country, status="ok",
            properties={"from": before, "to": fallback, "reason": "expired",
                        "expired_at": ended_at.isoformat()},
        )  # fmt: skip
    else:
        query = select(Account.plan_code, Account.plan_expires_at).where(Account.id == account.id)
        plan_code, expires_at = (await session.execute(query)).one()
    set_committed_value(account, "plan_code", plan_code)
    set_committed_value(account, "plan_expires_at", expires_at)
    await session.commit()
