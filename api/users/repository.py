"""All SQL of the staff's view of accounts: the filtered list and its export, and one account's activity
from the usage events. Repositories flush, never commit: the service (api/users/admin.py) owns the
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.events.models import UsageEvent
from api.events.types import USER_ACTIVITY, EventType

SortColumn = Literal[
    "email", "created_at", "last_login_at", "balance", "plan_code", "country", "role", "is_blocked"
]
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


def _order(sort: SortColumn, descending: bool):
    column = getattr(Account, sort)
    return column.desc().nulls_last() if descending else column.asc().nulls_last()


async def search(
    session: AsyncSession, f: UserFilter, *, sort: SortColumn, descending: bool, limit: int, offset: int
) -> tuple[int, list[Account]]:
    """The page of accounts that match, in the order asked (then by id), and how many match in all."""
    total = await session.scalar(_filtered(select(func.count()).select_from(Account), f))
    query = _filtered(select(Account), f).order_by(_order(sort, descending), Account.id)
    rows = await session.scalars(query.limit(limit).offset(offset))
    return int(total or 0), list(rows.all())


def export_query(f: UserFilter, *, sort: SortColumn, descending: bool) -> Select:
    """Every matching account's exported columns, in the list's order (no page)."""
    columns = [getattr(Account, name) for name in EXPORT_COLUMNS]
    return _filtered(select(*columns), f).order_by(_order(sort, descending), Account.id)


# ---------------------------------------------------------------- one account's activity

_SUCCEEDED = UsageEvent.type == EventType.LLM_CALL_SUCCEEDED.value
_ACTIVITY = UsageEvent.type.in_([t.value for t in USER_ACTIVITY])


async def lifetime_totals(session: AsyncSession, account_id: uuid.UUID) -> Sequence[Any]:
    """Chats, messages, completions, input and output tokens, cost, credits and the last activity."""
    return (
        await session.execute(
            select(
                func.count().filter(UsageEvent.type == EventType.CHAT_CREATED.value),
                func.count().filter(UsageEvent.type == EventType.MESSAGE_SENT.value),
                func.count().filter(_SUCCEEDED),
                func.coalesce(func.sum(UsageEvent.input_tokens).filter(_SUCCEEDED), 0),
                func.coalesce(func.sum(UsageEvent.output_tokens).filter(_SUCCEEDED), 0),
                func.coalesce(func.sum(UsageEvent.cost_usd).filter(_SUCCEEDED), 0),
                func.coalesce(func.sum(UsageEvent.credits).filter(_SUCCEEDED), 0),
                func.max(UsageEvent.occurred_at).filter(_ACTIVITY),
            ).where(UsageEvent.user_id == account_id)
        )
    ).one()


async def most_called(
    session: AsyncSession, account_id: uuid.UUID, by: Literal["model_id", "role_id"], limit: int = 5
) -> list[dict[str, Any]]:
    """The models (or roles) of the account's successful calls, the most called first."""
    column = getattr(UsageEvent, by)
    rows = await session.execute(
        select(column, func.count())
        .where(UsageEvent.user_id == account_id, _SUCCEEDED, column.is_not(None))
        .group_by(column)
        .order_by(func.count().desc(), column)
        .limit(limit)
    )
    return [{"id": key, "calls": calls} for key, calls in rows.all()]


async def activity_times(session: AsyncSession, account_id: uuid.UUID, since: datetime) -> list[datetime]:
    """When the account did anything (api.events.types.USER_ACTIVITY) since `since`."""
    times = await session.scalars(
        select(UsageEvent.occurred_at).where(
            UsageEvent.user_id == account_id, UsageEvent.occurred_at >= since, _ACTIVITY
        )
    )
    return list(times.all())
