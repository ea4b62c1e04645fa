"""All SQL of alert rules and their history. Repositories flush, never commit: the service owns the
transaction (and, for an evaluation, opens one per rule)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.alerts.models import AlertEvent, AlertRule
from api.mail.models import EmailMessage
from api.mail.service import MAX_ATTEMPTS

# ---------------------------------------------------------------- rules


async def rules_by_id(session: AsyncSession) -> list[AlertRule]:
    return list((await session.scalars(select(AlertRule).order_by(AlertRule.id))).all())


async def rule(session: AsyncSession, rule_id: int) -> AlertRule | None:
    return await session.get(AlertRule, rule_id)


async def name_taken(session: AsyncSession, name: str, *, other_than: int | None) -> bool:
    """Is `name` the name of a rule (other than rule `other_than`)?"""
    taken = select(AlertRule.id).where(AlertRule.name == name)
    if other_than is not None:
        taken = taken.where(AlertRule.id != other_than)
    return await session.scalar(taken) is not None


def add_rule(session: AsyncSession, rule: AlertRule) -> None:
    session.add(rule)


async def delete_rule(session: AsyncSession, rule: AlertRule) -> None:
    await session.delete(rule)


# ---------------------------------------------------------------- evaluation


async def due_rules(session: AsyncSession, cutoff: datetime, *, inclusive: bool) -> Sequence[Any]:
    """(id, last_evaluated_at) of the enabled rules never evaluated or last evaluated before `cutoff` (or
    at it, `inclusive`), by id."""
    last = AlertRule.last_evaluated_at
    due = last <= cutoff if inclusive else last < cutoff
    return (
        await session.execute(
            select(AlertRule.id, last)
            .where(AlertRule.enabled.is_(True), last.is_(None) | due)
            .order_by(AlertRule.id)
        )
    ).all()


async def claim(session: AsyncSession, rule_id: int, seen: datetime | None, at: datetime) -> bool:
    """Move the enabled rule's `last_evaluated_at` from `seen` (what the evaluator read) to `at`: True for
    exactly one evaluator, however many race for it."""
    claimed = await session.execute(
        update(AlertRule)
        .where(
            AlertRule.id == rule_id,
            AlertRule.enabled.is_(True),
            AlertRule.last_evaluated_at.is_not_distinct_from(seen),
        )
        .values(last_evaluated_at=at)
        .returning(AlertRule.id)
    )
    return claimed.one_or_none() is not None


def add_event(session: AsyncSession, event: AlertEvent) -> None:
    session.add(event)


async def record_delivery(
    session: AsyncSession, event_id: int, *, error: str | None, delivered_at: datetime | None
) -> None:
    """A webhook's outcome on its history row: sent, or failed and why."""
    await session.execute(
        update(AlertEvent)
        .where(AlertEvent.id == event_id)
        .values(
            delivery_status="failed" if error else "sent", delivery_error=error, delivered_at=delivered_at
        )
    )


# ---------------------------------------------------------------- history

# An email alert's delivery is the outbox row's: sent, failed for good, or still queued (maybe retrying).
_STATUS = case(
    (AlertEvent.email_id.is_(None), AlertEvent.delivery_status),
    (EmailMessage.sent_at.is_not(None), literal("sent")),
    (EmailMessage.attempts >= MAX_ATTEMPTS, literal("failed")),
    else_=literal("queued"),
)
HISTORY_COLUMNS = (
    "id", "occurred_at", "rule_id", "rule_name", "kind", "metric", "value", "threshold", "window_minutes",
    "channel", "target", "delivery_status", "delivery_error", "delivered_at",
)  # fmt: skip


def history_query(
    *,
    rule_id: int | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    ids: list[int] | None = None,
) -> Select:
    """The history, newest first, in HISTORY_COLUMNS' order (for the list, the export and `evaluate`)."""
    query = select(
        AlertEvent.id,
        AlertEvent.occurred_at,
        AlertEvent.rule_id,
        AlertEvent.rule_name,
        AlertEvent.kind,
        AlertEvent.metric,
        AlertEvent.value,
        AlertEvent.threshold,
        AlertEvent.window_minutes,
        AlertEvent.channel,
        AlertEvent.target,
        _STATUS.label("delivery_status"),
        func.coalesce(AlertEvent.delivery_error, EmailMessage.last_error).label("delivery_error"),
        func.coalesce(AlertEvent.delivered_at, EmailMessage.sent_at).label("delivered_at"),
    ).outerjoin(EmailMessage, EmailMessage.id == AlertEvent.email_id)
    if rule_id is not None:
        query = query.where(AlertEvent.rule_id == rule_id)
    if kind is not None:
        query = query.where(AlertEvent.kind == kind)
    if since is not None:
        query = query.where(AlertEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AlertEvent.occurred_at < until)
    if ids is not None:
        query = query.where(AlertEvent.id.in_(ids))
    return query.order_by(AlertEvent.id.desc())


async def history_page(
    session: AsyncSession, *, limit: int, offset: int, **filters: Any
) -> tuple[int, Sequence[Any]]:
    """How many history rows match, and one page of them."""
    query = history_query(**filters)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return total or 0, (await session.execute(query.limit(limit).offset(offset))).all()


async def history_rows(session: AsyncSession, ids: list[int]) -> Sequence[Any]:
    return (await session.execute(history_query(ids=ids))).all()
