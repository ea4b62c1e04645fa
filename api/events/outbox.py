"""Append usage events inside the caller's transaction (the transactional outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.events.models import UsageEvent
from api.events.types import EventType
from api.users.models import Account


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is calling and from where: copied onto every event the request writes."""

    country: str | None = None
    client: str = "api"
    ip: str | None = None
    user_agent: str | None = None


def record(
    session: AsyncSession,
    type_: EventType,
    *,
    at: datetime,
    ctx: RequestContext,
    **fields,
) -> UsageEvent:
    """Add one event to the session; the service's commit makes it durable with the change itself.

    The country is the trusted proxy's for this request, else the one passed (the account's profile).
    """
    profile_country = fields.pop("country", None)
    event = UsageEvent(
        type=type_.value,
        occurred_at=at,
        country=ctx.country or profile_country,
        client=ctx.client,
        properties=fields.pop("properties", None) or {},
        **fields,
    )
    session.add(event)
    return event


def about(account: Account | None) -> dict[str, Any]:
    """The who-columns of an event about an account (none for an unknown one)."""
    if account is None:
        return {}
    return {"user_id": account.id, "plan": account.plan_code, "country": account.country}
