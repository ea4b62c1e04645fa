"""Send one automatic notification (a rule's) to one account, in the caller's transaction.

One row per channel in `notifications`; an email one also gets its mail in the email outbox, sent after
commit by the mail job. Broadcasts, the rules' settings and the inbox are api/notifications/service.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.core.settings import Settings
from api.notifications import repository as repo
from api.notifications import templates as texts


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
    rule = await repo.rule(session, rule_code)
    if rule is None or not rule.enabled:
        return
    values = {
        "email": account.email,
        "plan": account.plan_code,
        "app_url": app_url(settings),
        **(values or {}),
    }
    subject, body = texts.render(rule.templates, account.locale, values)
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
        notification_id = await repo.add_notification(session, row, dedup=dedup_key is not None)
        if notification_id is not None and channel == "email":
            await repo.queue_notification_mail(
                session, notification_id, to=account.email, subject=subject, body=body, at=at
            )


async def balance_low_threshold(session: AsyncSession) -> Decimal | None:
    """The balance_low rule's threshold, or None when the rule is off (read into the catalogue snapshot)."""
    return await repo.balance_low_threshold(session)
