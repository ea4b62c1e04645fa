"""Append usage events inside the caller's transaction (the transactional outbox).

`record()` keeps the event with the session; when the session commits, every event it holds is written
in one INSERT (no ORM unit of work, which cost more than the rest of a completion's bookkeeping), in the
same transaction as the change it describes. A rollback drops the events recorded before it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.events.models import UsageEvent
from api.events.types import EventType

_PENDING = "aiadmin.outbox"
COLUMNS = tuple(c.name for c in UsageEvent.__table__.columns if c.name != "id")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is calling and from where: copied onto every event the request writes."""

    country: str | None = None
    client: str = "api"
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None  # for the error log; a failed call keeps it in its properties


def event_row(type_: EventType, *, at: datetime, ctx: RequestContext, **fields) -> dict[str, Any]:
    """One `usage_events` row (every column but the id), as `record()` and the gateway's fast lane write it.

    The country is the trusted proxy's for this request, else the one passed (the account's profile).
    """
    profile_country = fields.pop("country", None)
    row = dict.fromkeys(COLUMNS)
    row.update(
        event_id=fields.pop("event_id", None) or uuid.uuid4(),
        type=type_.value,
        occurred_at=at,
        country=ctx.country or profile_country,
        client=ctx.client,
        properties=fields.pop("properties", None) or {},
    )
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise TypeError(f"usage events have no column {sorted(unknown)}")
    row.update(fields)
    return row


def record(
    session: AsyncSession | Session,
    type_: EventType,
    *,
    at: datetime,
    ctx: RequestContext,
    **fields,
) -> None:
    """Add one event to the session; the service's commit makes it durable with the change itself."""
    session.info.setdefault(_PENDING, []).append(event_row(type_, at=at, ctx=ctx, **fields))


@event.listens_for(Session, "before_commit")
def _write_outbox(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.execute(insert(UsageEvent.__table__), rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop_outbox(session: Session, _previous_transaction) -> None:
    session.info.pop(_PENDING, None)


class Subject(Protocol):
    """What an event needs of the account it is about (the outbox sits below `api.accounts`)."""

    id: uuid.UUID
    plan_code: str
    country: str | None


def about(account: Subject | None) -> dict[str, Any]:
    """The who-columns of an event about an account (none for an unknown one)."""
    if account is None:
        return {}
    return {"user_id": account.id, "plan": account.plan_code, "country": account.country}
