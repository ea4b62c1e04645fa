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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, case, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts.errors import UnknownPlan
from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.core.errors import AppError, NotFound
from api.core.settings import Settings
from api.core.types import UTCDateTime
from api.events.models import UsageEvent
from api.events.types import USER_ACTIVITY
from api.mail.models import EmailMessage
from api.mail.service import MAX_ATTEMPTS
from api.notifications import templates as texts
from api.notifications.models import Broadcast, Notification, NotificationRule
from api.notifications.notify import app_url

SegmentKind = Literal["all", "plan", "country", "inactive"]


class EmptySegment(AppError):
    status_code = 422
    code = "empty_segment"


class UnknownRule(NotFound):
    code = "rule_not_found"


@dataclass(frozen=True, slots=True)
class Segment:
    """Whom a broadcast goes to: end users who are not blocked, all of them or those of a plan, of a
    country, or with no activity (anything a user does, api.events.types.USER_ACTIVITY) for N days."""

    kind: SegmentKind = "all"
    plan: str | None = None
    country: str | None = None
    inactive_days: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {
                "kind": self.kind,
                "plan": self.plan,
                "country": self.country,
                "inactive_days": self.inactive_days,
            }.items()
            if v is not None
        }

    def where(self, at: datetime) -> list:
        conditions = [Account.role == "user", Account.is_blocked.is_(False)]
        if self.kind == "plan":
            conditions.append(Account.plan_code == self.plan)
        elif self.kind == "country":
            conditions.append(Account.country == self.country)
        elif self.kind == "inactive":
            since = at - timedelta(days=self.inactive_days or 0)
            conditions.append(
                ~exists().where(
                    UsageEvent.user_id == Account.id,
                    UsageEvent.occurred_at >= since,
                    UsageEvent.type.in_(USER_ACTIVITY),
                )
            )
        return conditions


async def audience_size(session: AsyncSession, segment: Segment, at: datetime) -> int:
    return int(await session.scalar(select(func.count()).select_from(Account).where(*segment.where(at))) or 0)


def _personal(text: str):
    """The text with {email} and {plan} filled in by the database, per recipient."""
    return func.replace(func.replace(literal(text), "{email}", Account.email), "{plan}", Account.plan_code)


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
    session.add(sent)
    await session.flush()
    columns = ["account_id", "channel", "broadcast_id", "locale", "subject", "body", "created_at"]
    for locale in ("en", "ru"):
        subject, body = texts.render(templates, locale, {"app_url": app_url(settings)})
        speaks = Account.locale == "ru" if locale == "ru" else Account.locale != "ru"
        for channel in channels:
            rows = select(
                Account.id,
                literal(channel),
                literal(sent.id),
                literal(locale),
                func.substr(_personal(subject), 1, texts.MAX_SUBJECT),  # {email} may make it longer
                _personal(body),
                literal(at, UTCDateTime),
            ).where(*segment.where(at), speaks)
            await session.execute(insert(Notification).from_select(columns, rows))
    if "email" in channels:
        mails = (
            select(
                Account.email,
                Notification.subject,
                Notification.body,
                literal("notification"),
                literal(at, UTCDateTime),
                literal(0),
                Notification.id,
            )
            .join(Account, Account.id == Notification.account_id)
            .where(Notification.broadcast_id == sent.id, Notification.channel == "email")
        )
        await session.execute(
            insert(EmailMessage).from_select(
                ["to_address", "subject", "body", "kind", "created_at", "attempts", "notification_id"], mails
            )
        )
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


async def broadcasts(session: AsyncSession, *, limit: int, offset: int) -> list[Broadcast]:
    """The broadcasts sent, newest first."""
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- rules


async def rules(session: AsyncSession) -> list[NotificationRule]:
    return list((await session.scalars(select(NotificationRule).order_by(NotificationRule.code))).all())


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
    rule = await session.get(NotificationRule, code)
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


def _inbox(account_id: uuid.UUID, unread_only: bool) -> Select:
    query = select(Notification).where(
        Notification.account_id == account_id, Notification.channel == "in_app"
    )
    return query.where(Notification.read_at.is_(None)) if unread_only else query


async def inbox(
    session: AsyncSession, account_id: uuid.UUID, *, unread_only: bool, limit: int, offset: int
) -> tuple[int, int, list[Notification]]:
    """(total, unread, the page newest first) of the account's in-app notifications."""
    total = await session.scalar(select(func.count()).select_from(_inbox(account_id, unread_only).subquery()))
    unread = await session.scalar(select(func.count()).select_from(_inbox(account_id, True).subquery()))
    page = await session.scalars(
        _inbox(account_id, unread_only).order_by(Notification.id.desc()).limit(limit).offset(offset)
    )
    return int(total or 0), int(unread or 0), list(page.all())


async def mark_read(
    session: AsyncSession, account_id: uuid.UUID, notification_id: int | None, at: datetime
) -> int:
    """Mark one of the account's in-app notifications read (404 if it is not the account's), or all."""
    statement = (
        update(Notification)
        .where(Notification.account_id == account_id, Notification.channel == "in_app")
        .values(read_at=func.coalesce(Notification.read_at, literal(at, UTCDateTime)))
    )
    if notification_id is not None:
        statement = statement.where(Notification.id == notification_id)
    changed = (await session.execute(statement.execution_options(synchronize_session=False))).rowcount
    if notification_id is not None and not changed:
        raise NotFound("no such notification")
    await session.commit()
    return changed


# ---------------------------------------------------------------- the delivery log


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    account_id: uuid.UUID | None = None
    channel: str | None = None
    status: str | None = None
    broadcast_id: int | None = None
    rule: str | None = None
    since: datetime | None = None
    until: datetime | None = None


DELIVERY_STATUS = case(
    (Notification.channel == "in_app", case((Notification.read_at.is_(None), "delivered"), else_="read")),
    (EmailMessage.sent_at.is_not(None), "sent"),
    (EmailMessage.attempts >= MAX_ATTEMPTS, "failed"),
    (EmailMessage.last_error.is_not(None), "retrying"),
    else_="queued",
)
DELIVERY_COLUMNS = {
    "id": Notification.id,
    "created_at": Notification.created_at,
    "account_id": Notification.account_id,
    "email": Account.email,
    "channel": Notification.channel,
    "broadcast_id": Notification.broadcast_id,
    "rule": Notification.rule,
    "locale": Notification.locale,
    "subject": Notification.subject,
    "status": DELIVERY_STATUS,
    "sent_at": EmailMessage.sent_at,
    "attempts": EmailMessage.attempts,
    "error": EmailMessage.last_error,
    "read_at": Notification.read_at,
}


def deliveries(filters: DeliveryFilter) -> Select:
    """The delivery log, newest first: each notification with the state of its delivery."""
    query = (
        select(*(column.label(name) for name, column in DELIVERY_COLUMNS.items()))
        .join(Account, Account.id == Notification.account_id)
        .outerjoin(EmailMessage, EmailMessage.notification_id == Notification.id)
    )
    for column, value in (
        (Notification.account_id, filters.account_id),
        (Notification.channel, filters.channel),
        (Notification.broadcast_id, filters.broadcast_id),
        (Notification.rule, filters.rule),
        (DELIVERY_STATUS, filters.status),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(Notification.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Notification.created_at < filters.until)
    return query.order_by(Notification.id.desc())


async def deliveries_page(
    session: AsyncSession, filters: DeliveryFilter, *, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """How many deliveries match, and one page of them."""
    query = deliveries(filters)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.execute(query.limit(limit).offset(offset))).mappings().all()
    return int(total or 0), [dict(r) for r in rows]
