"""All SQL of the request explorer: the completions' own usage events (`llm.call_succeeded`,
`llm.call_failed`), with the caller's email, filtered and paged by id
(docs/decisions/0043-request-explorer.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.events.models import CALLS_ONLY, UsageEvent
from api.events.types import EventType

FAILED = EventType.LLM_CALL_FAILED.value


@dataclass(frozen=True, slots=True)
class CallFilter:
    user_id: uuid.UUID | None = None
    email: str | None = None
    model_id: str | None = None
    provider: str | None = None
    role_id: str | None = None
    plan: str | None = None
    status: str | None = None  # ok | disconnected | error
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# A call's columns as listed and exported, in this order.
COLUMNS = ("id", "occurred_at", "type", "user_id", "email", "plan", "model_id", "role_id", "provider",
           "status", "error_code", "input_tokens", "output_tokens", "cost_usd", "credits", "latency_ms",
           "country", "client", "chat_id", "properties")  # fmt: skip


CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def _selected(name: str):
    return Account.email.label("email") if name == "email" else getattr(UsageEvent, name)


def calls_query(f: CallFilter) -> Select:
    """Every call matching `f`, newest first (by id: a total order, so pages never repeat or skip a row).
    A filter on the model or the status reads its partial index (`ix_usage_events_calls_*`: the column, then
    id) newest first and stops at the page's end (docs/decisions/0046)."""
    query = (
        select(*(_selected(c) for c in COLUMNS))
        .outerjoin(Account, Account.id == UsageEvent.user_id)
        .where(text(f"usage_events.{CALLS_ONLY}"))  # the partial indexes' own predicate (models.py)
    )
    for column, value in (
        (UsageEvent.user_id, f.user_id),
        (UsageEvent.model_id, f.model_id),
        (UsageEvent.provider, f.provider),
        (UsageEvent.role_id, f.role_id),
        (UsageEvent.plan, f.plan),
        (UsageEvent.status, f.status),
        (UsageEvent.error_code, f.error_code),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.email is not None:
        query = query.where(func.lower(Account.email) == f.email.lower())
    if f.since is not None:
        query = query.where(UsageEvent.occurred_at >= f.since)
    if f.until is not None:
        query = query.where(UsageEvent.occurred_at < f.until)
    return query.order_by(UsageEvent.id.desc())


async def page(session: AsyncSession, f: CallFilter, *, before: int | None, limit: int) -> Sequence[Row]:
    """The `limit` newest calls matching `f` with an id below `before` (the keyset: the last id of the page
    before)."""
    query = calls_query(f)
    if before is not None:
        query = query.where(UsageEvent.id < before)
    if session.get_bind().dialect.name == "postgresql":
        # psycopg prepares a query it has run five times, and PostgreSQL may then plan it once for every
        # value: a generic plan that, for a rare model, walks the primary key through every call instead of
        # reading the model's index. Planned for its own values each time (until the transaction ends).
        await session.execute(text(CUSTOM_PLANS))
    return (await session.execute(query.limit(limit))).all()


async def one(session: AsyncSession, call_id: int) -> Row | None:
    query = calls_query(CallFilter()).where(UsageEvent.id == call_id)
    return (await session.execute(query.add_columns(UsageEvent.event_id))).first()
