"""What staff do to accounts: find, look at, block and unblock, change the plan, adjust the balance.

Every change is one transaction: the account, its usage event and its audit row commit together.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.errors import UnknownPlan
from api.accounts.models import Account, Plan
from api.audit import service as audit
from api.audit.schemas import AuditEntryOut
from api.audit.service import AuditContext, AuditFilter
from api.auth import service as auth
from api.auth.credentials import AccessToken, issue_access_token
from api.billing import service as billing
from api.billing.service import InsufficientBalance
from api.core.errors import Conflict, Forbidden, NotFound
from api.core.settings import Settings
from api.events.models import UsageEvent
from api.events.outbox import RequestContext, about, record
from api.events.types import USER_ACTIVITY, EventType

SortColumn = Literal[
    "email", "created_at", "last_login_at", "balance", "plan_code", "country", "role", "is_blocked"
]


class AlreadyInThatState(Conflict):
    code = "no_change"


class StaffTargetRequiresAdmin(Forbidden):
    code = "staff_target_requires_admin"


class CannotActOnSelf(Forbidden):
    code = "cannot_act_on_self"


@dataclass(frozen=True, slots=True)
class UserFilter:
    q: str | None = None  # part of the email, or the whole id
    plan: str | None = None
    status: Literal["active", "blocked"] | None = None
    role: str | None = None
    country: str | None = None
    registered_from: date | None = None
    registered_to: date | None = None
    last_login_from: date | None = None
    last_login_to: date | None = None
    balance_min: Decimal | None = None
    balance_max: Decimal | None = None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _filtered(query: Select, f: UserFilter) -> Select:
    if f.q:
        text = f.q.strip().lower()
        try:
            query = query.where(
                or_(Account.id == uuid.UUID(text), Account.email.contains(text, autoescape=True))
            )
        except ValueError:
            query = query.where(Account.email.contains(text, autoescape=True))
    if f.plan:
        query = query.where(Account.plan_code == f.plan)
    if f.status:
        query = query.where(Account.is_blocked.is_(f.status == "blocked"))
    if f.role:
        query = query.where(Account.role == f.role)
    if f.country:
        query = query.where(Account.country == f.country.upper())
    if f.registered_from:
        query = query.where(Account.created_at >= _day_start(f.registered_from))
    if f.registered_to:
        query = query.where(Account.created_at < _day_start(f.registered_to + timedelta(days=1)))
    if f.last_login_from:
        query = query.where(Account.last_login_at >= _day_start(f.last_login_from))
    if f.last_login_to:
        query = query.where(Account.last_login_at < _day_start(f.last_login_to + timedelta(days=1)))
    if f.balance_min is not None:
        query = query.where(Account.balance >= f.balance_min)
    if f.balance_max is not None:
        query = query.where(Account.balance <= f.balance_max)
    return query


async def search(
    session: AsyncSession, f: UserFilter, *, sort: SortColumn, descending: bool, limit: int, offset: int
) -> tuple[int, list[Account]]:
    """The page of accounts that match, in the order asked (then by id), and how many match in all."""
    total = await session.scalar(_filtered(select(func.count()).select_from(Account), f))
    column = getattr(Account, sort)
    order = column.desc().nulls_last() if descending else column.asc().nulls_last()
    rows = await session.scalars(
        _filtered(select(Account), f).order_by(order, Account.id).limit(limit).offset(offset)
    )
    return int(total or 0), list(rows.all())


EXPORT_COLUMNS = (
    "id",
    "email",
    "role",
    "plan_code",
    "country",
    "is_blocked",
    "balance",
    "created_at",
    "last_login_at",
)


def export_query(f: UserFilter, *, sort: SortColumn, descending: bool) -> Select:
    """Every matching account's exported columns, in the list's order (no page)."""
    column = getattr(Account, sort)
    order = column.desc().nulls_last() if descending else column.asc().nulls_last()
    columns = [getattr(Account, name) for name in EXPORT_COLUMNS]
    return _filtered(select(*columns), f).order_by(order, Account.id)


async def get(session: AsyncSession, account_id: uuid.UUID) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    return account


async def stats(session: AsyncSession, account_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """Lifetime chats, messages, tokens, cost and credits; the most used models and roles; the last 30
    days' activity (events a day). From the OLTP events (indexed by user and time)."""
    mine = UsageEvent.user_id == account_id
    succeeded = UsageEvent.type == EventType.LLM_CALL_SUCCEEDED.value
    totals = (
        await session.execute(
            select(
                func.count().filter(UsageEvent.type == EventType.CHAT_CREATED.value),
                func.count().filter(UsageEvent.type == EventType.MESSAGE_SENT.value),
                func.count().filter(succeeded),
                func.coalesce(func.sum(UsageEvent.input_tokens).filter(succeeded), 0),
                func.coalesce(func.sum(UsageEvent.output_tokens).filter(succeeded), 0),
                func.coalesce(func.sum(UsageEvent.cost_usd).filter(succeeded), 0),
                func.coalesce(func.sum(UsageEvent.credits).filter(succeeded), 0),
                func.max(UsageEvent.occurred_at).filter(
                    UsageEvent.type.in_([t.value for t in USER_ACTIVITY])
                ),
            ).where(mine)
        )
    ).one()

    async def top(column) -> list[dict[str, Any]]:
        rows = await session.execute(
            select(column, func.count())
            .where(mine, succeeded, column.is_not(None))
            .group_by(column)
            .order_by(func.count().desc(), column)
            .limit(5)
        )
        return [{"id": key, "calls": calls} for key, calls in rows.all()]

    since = now - timedelta(days=30)
    times = await session.scalars(
        select(UsageEvent.occurred_at).where(
            mine, UsageEvent.occurred_at >= since, UsageEvent.type.in_([t.value for t in USER_ACTIVITY])
        )
    )
    per_day = Counter(moment.astimezone(UTC).date().isoformat() for moment in times.all())
    return {
        "chats": totals[0],
        "messages": totals[1],
        "completions": totals[2],
        "input_tokens": int(totals[3]),
        "output_tokens": int(totals[4]),
        "cost_usd": Decimal(totals[5]),
        "credits": Decimal(totals[6]),
        "last_active_at": totals[7],
        "top_models": await top(UsageEvent.model_id),
        "top_roles": await top(UsageEvent.role_id),
        "activity_30_days": [{"day": d, "events": n} for d, n in sorted(per_day.items())],
    }


def _may_act(actor: Account, target: Account) -> None:
    if actor.id == target.id:
        raise CannotActOnSelf("staff cannot change their own account here")
    if target.is_staff and actor.role != "admin":
        raise StaffTargetRequiresAdmin("only an admin may change a staff account")


async def set_blocked(
    session: AsyncSession,
    actor: Account,
    target_id: uuid.UUID,
    *,
    blocked: bool,
    reason: str,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> Account:
    target = await get(session, target_id)
    _may_act(actor, target)
    if target.is_blocked == blocked:
        raise AlreadyInThatState("the account is already " + ("blocked" if blocked else "not blocked"))
    target.is_blocked = blocked
    await _commit_change(
        session,
        actor,
        target,
        EventType.USER_BLOCKED if blocked else EventType.USER_UNBLOCKED,
        "user.block" if blocked else "user.unblock",
        before={"is_blocked": not blocked},
        after={"is_blocked": blocked},
        reason=reason,
        at=at,
        ctx=ctx,
        context=context,
    )
    return target


async def change_plan(
    session: AsyncSession,
    actor: Account,
    target_id: uuid.UUID,
    *,
    plan: str,
    reason: str | None,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> Account:
    target = await get(session, target_id)
    _may_act(actor, target)
    if await session.get(Plan, plan) is None:
        raise UnknownPlan(f"there is no plan {plan!r}")
    if target.plan_code == plan:
        raise AlreadyInThatState(f"the account is already on {plan!r}")
    before = target.plan_code
    target.plan_code = plan
    await _commit_change(
        session,
        actor,
        target,
        EventType.PLAN_CHANGED,
        "user.plan_change",
        before={"plan": before},
        after={"plan": plan},
        reason=reason,
        at=at,
        ctx=ctx,
        context=context,
        properties={"from": before, "to": plan},
    )
    return target


async def adjust_balance(
    session: AsyncSession,
    actor: Account,
    target_id: uuid.UUID,
    *,
    amount: Decimal,
    reason: str,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> Decimal:
    """Add (or, negative, take) credits: a ledger row of kind `adjustment`; never below zero."""
    target = await get(session, target_id)
    _may_act(actor, target)
    before = target.balance
    balance = await billing.move(
        session,
        target.id,
        amount,
        kind="adjustment",
        at=at,
        reference=f"adjustment-{uuid.uuid4().hex}",
        details={"by": str(actor.id), "reason": reason},
    )
    if balance is None:
        raise InsufficientBalance(f"the balance is {before}: it cannot go below zero")
    await _commit_change(
        session,
        actor,
        target,
        EventType.BALANCE_ADJUSTED,
        "user.balance_adjust",
        before={"balance": str(before)},
        after={"balance": str(balance)},
        reason=reason,
        at=at,
        ctx=ctx,
        context=context,
        credits=amount,
    )
    return balance


IMPERSONATION_MINUTES = 15


class CannotImpersonateStaff(Forbidden):
    code = "cannot_impersonate_staff"


async def impersonate(
    session: AsyncSession,
    settings: Settings,
    actor: Account,
    target_id: uuid.UUID,
    *,
    reason: str,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
) -> AccessToken:
    """A short-lived, read-only session as the account, marked with the admin's id: every request made
    with it is audited in the admin's name (api/core/deps.py). No refresh token."""
    target = await get(session, target_id)
    _may_act(actor, target)
    if target.is_staff:
        raise CannotImpersonateStaff("only end users can be impersonated")
    expires_at = at + timedelta(minutes=IMPERSONATION_MINUTES)
    auth_session = await auth.open_impersonation_session(
        session, target, actor, at=at, expires_at=expires_at, ctx=ctx
    )
    await audit.commit_audited(
        session,
        actor,
        "user.impersonate",
        target_type="account",
        target_id=str(target.id),
        before={},
        after={"session_id": str(auth_session.id), "expires_at": expires_at.isoformat()},
        at=at,
        context=context,
        reason=reason,
    )
    token = issue_access_token(settings, target.id, auth_session.id, now=at)
    return AccessToken(token.token, min(token.expires_in, IMPERSONATION_MINUTES * 60))


async def _commit_change(
    session: AsyncSession,
    actor: Account,
    target: Account,
    event: EventType,
    action: str,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None,
    at: datetime,
    ctx: RequestContext,
    context: AuditContext,
    properties: dict[str, Any] | None = None,
    **measures,
) -> None:
    """The change's usage event and audit row, committed with the change itself."""
    record(
        session,
        event,
        at=at,
        ctx=ctx,
        **about(target),
        **measures,
        status="ok",
        properties={"by": str(actor.id), "reason": reason, **(properties or {})},
    )
    await audit.commit_audited(
        session,
        actor,
        action,
        target_type="account",
        target_id=str(target.id),
        before=before,
        after=after,
        at=at,
        context=context,
        reason=reason,
    )


async def history(session: AsyncSession, target_id: uuid.UUID, limit: int = 100) -> list[AuditEntryOut]:
    """The audit log of one account, newest first."""
    rows = await audit.entries(
        session, AuditFilter(target_type="account", target_id=str(target_id)), limit=limit, offset=0
    )
    return [AuditEntryOut.model_validate(row) for row in rows]
