"""Send one automatic notification (a rule's) to one account, in the caller's transaction.

One row per channel in `notifications`; an email one also gets its mail in the email outbox, sent after
commit by the mail job. Broadcasts, the rules' settings and the inbox are api/notifications/service.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.core.db import insert_for
from api.core.settings import Settings
from api.mail.models import EmailMessage
from api.notifications import templates as texts
from api.notifications.models import Notification, NotificationRule


def app_url(settings: Settings) -> str:
    return settings.app_url or settings.public_url


async def notify(
    session: AsyncSession,
    settings: Settings,
    rule_code: str,
    account: Account,
    at: datetime,
    values: dict[str, Any] | None = None,
    *,
    dedup_key: str | None = None,
) -> None:
    """Send the rule's notification to `account`, if the rule is on, in the caller's transaction; with a
    `dedup_key`, at most once per key (a second call, even a concurrent one, writes nothing)."""
    if account.role != "user":
        return
    rule = await session.get(NotificationRule, rule_code)
    if rule is None or not rule.enabled:
        return
    values = {
        "email": account.email,
        "plan": account.plan_code,
        "app_url": app_url(settings),
        **(values or {}),
    }
    subject, body = texts.render(rule.templates, account.locale, values)
    insert_ = insert_for(session)
    for channel in rule.channels:
        row = {
            "account_id": account.id,
            "channel": channel,
            "rule": rule_code,
            "locale": account.locale,
            "subject": subject,
            "body": body,
            "created_at": at,
            "dedup_key": dedup_key,
        }
        statement = insert_(Notification).values(row).returning(Notification.id)
        if dedup_key is not None:
            statement = statement.on_conflict_do_nothing(
                index_elements=["account_id", "channel", "dedup_key"]
            )
        notification_id = (await session.execute(statement)).scalar_one_or_none()
        if notification_id is not None and channel == "email":
            await session.execute(
                insert(EmailMessage.__table__).values(
                    to_address=account.email,
                    subject=subject,
                    body=body,
                    kind="notification",
                    created_at=at,
                    attempts=0,
                    notification_id=notification_id,
                )
            )


async def balance_low_threshold(session: AsyncSession) -> Decimal | None:
    """The balance_low rule's threshold, or None when the rule is off (read into the catalogue snapshot)."""
    return await session.scalar(
        select(NotificationRule.threshold).where(
            NotificationRule.code == "balance_low", NotificationRule.enabled.is_(True)
        )
    )
