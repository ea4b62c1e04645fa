"""All SQL of broadcasts, the rules' settings, the in-app inbox, the delivery log and one rule's
notification to one account (api/notifications/notify.py, the primitive other domains call).
Repositories flush, never commit: the service owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, case, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.core.db import insert_for
from api.core.types import UTCDateTime
from api.events.models import UsageEvent
from api.events.types import USER_ACTIVITY
from api.mail.models import EmailMessage
from api.mail.service import MAX_ATTEMPTS
from api.notifications.models import Broadcast, Notification, NotificationRule
from api.notifications.templates import MAX_SUBJECT

SegmentKind = Literal["all", "plan", "country", "inactive"]


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


# ---------------------------------------------------------------- broadcasts


async def audience_size(session: AsyncSession, segment: Segment, at: datetime) -> int:
    return int(await session.scalar(select(func.count()).select_from(Account).where(*segment.where(at))) or 0)


async def add_broadcast(session: AsyncSession, broadcast: Broadcast) -> None:
    session.add(broadcast)
    await session.flush()


def _personal(text: str):
    """The text with {email} and {plan} filled in by the database, per recipient."""
    return func.replace(func.replace(literal(text), "{email}", Account.email), "{plan}", Account.plan_code)


async def add_broadcast_notifications(
    session: AsyncSession,
    broadcast: Broadcast,
    segment: Segment,
    *,
    locale: str,
    channel: str,
    subject: str,
    body: str,
    at: datetime,
) -> None:
    """One notification on `channel` for every account of the segment that reads `locale` (every other
    locale reads "en"), written set-based (INSERT … SELECT)."""
    speaks = Account.locale == "ru" if locale == "ru" else Account.locale != "ru"
    columns = ["account_id", "channel", "broadcast_id", "locale", "subject", "body", "created_at"]
    rows = select(
        Account.id,
        literal(channel),
        literal(broadcast.id),
        literal(locale),
        func.substr(_personal(subject), 1, MAX_SUBJECT),  # {email} may make it longer
        _personal(body),
        literal(at, UTCDateTime),
    ).where(*segment.where(at), speaks)
    await session.execute(insert(Notification).from_select(columns, rows))


async def queue_broadcast_mails(session: AsyncSession, broadcast: Broadcast, at: datetime) -> None:
    """The broadcast's email notifications, each as a mail in the email outbox (set-based)."""
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
        .where(Notification.broadcast_id == broadcast.id, Notification.channel == "email")
    )
    await session.execute(
        insert(EmailMessage).from_select(
            ["to_address", "subject", "body", "kind", "created_at", "attempts", "notification_id"], mails
        )
    )


async def broadcasts(session: AsyncSession, *, limit: int, offset: int) -> list[Broadcast]:
    """The broadcasts sent, newest first."""
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


# ---------------------------------------------------------------- rules


async def rules_by_code(session: AsyncSession) -> list[NotificationRule]:
    return list((await session.scalars(select(NotificationRule).order_by(NotificationRule.code))).all())


async def rule(session: AsyncSession, code: str) -> NotificationRule | None:
    return await session.get(NotificationRule, code)


async def balance_low_threshold(session: AsyncSession) -> Decimal | None:
    """The balance_low rule's threshold, or None when the rule is off."""
    return await session.scalar(
        select(NotificationRule.threshold).where(
            NotificationRule.code == "balance_low", NotificationRule.enabled.is_(True)
        )
    )


async def add_notification(session: AsyncSession, row: dict[str, Any], *, dedup: bool) -> int | None:
    """One notification row: its id, or None when `dedup` and the account already has one on this channel
    with this `dedup_key` (then nothing is written, even under a concurrent insert)."""
    statement = insert_for(session)(Notification).values(row).returning(Notification.id)
    if dedup:
        statement = statement.on_conflict_do_nothing(index_elements=["account_id", "channel", "dedup_key"])
    return (await session.execute(statement)).scalar_one_or_none()


async def queue_notification_mail(
    session: AsyncSession, notification_id: int, *, to: str, subject: str, body: str, at: datetime
) -> None:
    """The email of notification `notification_id`, into the email outbox (a plain INSERT)."""
    await session.execute(
        insert(EmailMessage.__table__).values(
            to_address=to,
            subject=subject,
            body=body,
            kind="notification",
            created_at=at,
            attempts=0,
            notification_id=notification_id,
        )
    )


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
    """Mark one of the account's in-app notifications read (or all of them); how many matched."""
    statement = (
        update(Notification)
        .where(Notification.account_id == account_id, Notification.channel == "in_app")
        .values(read_at=func.coalesce(Notification.read_at, literal(at, UTCDateTime)))
    )
    if notification_id is not None:
        statement = statement.where(Notification.id == notification_id)
    return (await session.execute(statement.execution_options(synchronize_session=False))).rowcount


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


async def forget_account(session: AsyncSession, account_id: uuid.UUID) -> None:
    """The texts sent to the account emptied (a welcome quotes its address); the rows stay, as the delivery
    log."""
    await session.execute(update(Notification).where(Notification.account_id == account_id).values(body=""))
