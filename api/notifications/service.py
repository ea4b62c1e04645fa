"""Notifications: broadcasts to a segment, the rules' settings, the in-app inbox and the delivery log.

The primitive that sends one rule's notification to one account, in the caller's transaction, is
api/notifications/notify.py (the gateway, auth and billing call it; it knows nothing of broadcasts).

Every notification is one row per recipient and channel, written in the transaction of what caused it;
email ones also get their mail in the email outbox, sent after commit by the mail job. Broadcasts are
written set-based (INSERT … SELECT), so a segment of a million users costs a few statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.errors import UnknownPlan
from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.core.errors import AppError, NotFound
from api.core.settings import Settings
from api.notifications import repository as repo
from api.notifications import templates as texts
from api.notifications.models import Broadcast, Notification, NotificationRule
from api.notifications.notify import app_url
from api.notifications.repository import DeliveryFilter, Segment

SegmentKind = repo.SegmentKind


class EmptySegment(AppError):
    status_code = 422
    code = "empty_segment"


class UnknownRule(NotFound):
    code = "rule_not_found"


async def audience_size(session: AsyncSession, segment: Segment, at: datetime) -> int:
    return await repo.audience_size(session, segment, at)


async def broadcast(
    session: AsyncSession,
    settings: Settings,
    actor: Account | None,
    *,
    segment: Segment,
    channels: list[str],
    templates: dict[str, dict[str, str]],
    at: datetime,
    context: AuditContext,
    actor_label: str | None = None,
) -> Broadcast:
    """Send to everyone in the segment now (in-app at once, email through the outbox); audited."""
    texts.check("broadcast", templates)
    recipients = await audience_size(session, segment, at)
    if recipients == 0:
        raise EmptySegment("no user is in this segment: nothing sent")
    sent = Broadcast(
        created_at=at,
        created_by=actor.id if actor else None,
        created_by_email=actor.email if actor else actor_label,
        segment=segment.as_dict(),
        channels=channels,
        templates=templates,
        recipients=recipients,
    )
    await repo.add_broadcast(session, sent)
    for locale in ("en", "ru"):
        subject, body = texts.render(templates, locale, {"app_url": app_url(settings)})
        for channel in channels:
            await repo.add_broadcast_notifications(
                session, sent, segment, locale=locale, channel=channel, subject=subject, body=body, at=at
            )
    if "email" in channels:
        await repo.queue_broadcast_mails(session, sent, at)
    after = {
        "id": sent.id,
        "segment": sent.segment,
        "channels": channels,
        "recipients": recipients,
        "subject": templates["en"]["subject"],
    }
    if actor is not None:
        await audit.write(
            session,
            actor,
            "notification.broadcast",
            target_type="broadcast",
            target_id=str(sent.id),
            before={},
            after=after,
            at=at,
            context=context,
        )
    else:
        await audit.write_as(
            session,
            None,
            "notification.broadcast",
            actor_email=actor_label,
            target_type="broadcast",
            target_id=str(sent.id),
            after=after,
            at=at,
            context=context,
        )
    await session.commit()
    return sent


async def send_broadcast(
    session: AsyncSession,
    settings: Settings,
    staff: Account,
    *,
    segment: Segment,
    channels: list[str],
    templates: dict[str, dict[str, str]],
    at: datetime,
    context: AuditContext,
) -> Broadcast:
    """A broadcast staff send: a segment naming a plan names one that exists."""
    if segment.plan is not None and await accounts.get_plan(session, segment.plan) is None:
        raise UnknownPlan(f"there is no plan {segment.plan!r}")
    return await broadcast(
        session,
        settings,
        staff,
        segment=segment,
        channels=channels,
        templates=templates,
        at=at,
        context=context,
    )


async def forget_account(session: AsyncSession, account_id: uuid.UUID) -> None:
    """An account's deletion (decision 0047): what was sent to it loses its text, in the caller's
    transaction."""
    await repo.forget_account(session, account_id)


async def broadcasts(session: AsyncSession, *, limit: int, offset: int) -> list[Broadcast]:
    """The broadcasts sent, newest first."""
    return await repo.broadcasts(session, limit=limit, offset=offset)


# ---------------------------------------------------------------- rules


async def rules(session: AsyncSession) -> list[NotificationRule]:
    return await repo.rules_by_code(session)


def _rule_state(rule: NotificationRule) -> dict[str, Any]:
    return {
        "enabled": rule.enabled,
        "channels": list(rule.channels),
        "threshold": None if rule.threshold is None else str(rule.threshold),
        "templates": rule.templates,
    }


async def update_rule(
    session: AsyncSession,
    actor: Account,
    code: str,
    *,
    changes: dict[str, Any],
    at: datetime,
    context: AuditContext,
    after_commit: Callable[[], None] | None = None,
) -> NotificationRule:
    """Change a rule, audited; `after_commit` runs once the change is committed (the gateway's catalogue
    snapshot holds balance_low's threshold)."""
    rule = await repo.rule(session, code)
    if rule is None:
        raise UnknownRule(f"no notification rule {code!r}")
    if "templates" in changes:
        texts.check(code, changes["templates"])
    before = _rule_state(rule)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.updated_at, rule.updated_by = at, actor.id
    await audit.commit_audited(
        session,
        actor,
        "notification_rule.update",
        target_type="notification_rule",
        target_id=code,
        before=before,
        after=_rule_state(rule),
        at=at,
        context=context,
        after_commit=after_commit,
    )
    return rule


# ---------------------------------------------------------------- the inbox


async def inbox(
    session: AsyncSession, account_id: uuid.UUID, *, unread_only: bool, limit: int, offset: int
) -> tuple[int, int, list[Notification]]:
    """(total, unread, the page newest first) of the account's in-app notifications."""
    return await repo.inbox(session, account_id, unread_only=unread_only, limit=limit, offset=offset)


async def mark_read(
    session: AsyncSession, account_id: uuid.UUID, notification_id: int | None, at: datetime
) -> int:
    """Mark one of the account's in-app notifications read (404 if it is not the account's), or all."""
    changed = await repo.mark_read(session, account_id, notification_id, at)
    if notification_id is not None and not changed:
        raise NotFound("no such notification")
    await session.commit()
    return changed


# ---------------------------------------------------------------- the delivery log


# The export streams the delivery log's query (api.core.exports).
DELIVERY_COLUMNS, deliveries = repo.DELIVERY_COLUMNS, repo.deliveries


async def deliveries_page(
    session: AsyncSession, filters: DeliveryFilter, *, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many deliveries match, and one page of them."""
    return await repo.deliveries_page(session, filters, limit=limit, offset=offset)
