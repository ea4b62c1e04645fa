"""Notifications: the rules that send them, the broadcasts staff send, and every notification sent (one row
per recipient and channel: the in-app inbox and the delivery log at once)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, Numeric, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime

CHANNELS = ("email", "in_app")
LOCALES = ("en", "ru")


class NotificationRule(Base):
    """An automatic notification (welcome, quota_exhausted, balance_low) with its templates per locale."""

    __tablename__ = "notification_rules"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    channels: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # balance_low: fires when a charge takes the balance from at least this many credits to below it.
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    # {"en": {"subject": …, "body": …}, "ru": {…}}: templates over the rule's placeholders
    # (api/notifications/templates.py).
    templates: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class Broadcast(Base):
    """A message staff sent to a segment of users."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_by_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    segment: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    channels: Mapped[list[str]] = mapped_column(JSONDoc)
    templates: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """One notification to one account by one channel. In-app ones are the user's inbox (read_at);
    email ones have their mail in email_outbox (email_outbox.notification_id), which says if it went out."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))
    broadcast_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("broadcasts.id"), nullable=True
    )
    rule: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locale: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by rules that must fire once per something (quota_exhausted: once per UTC day).
    dedup_key: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_notifications_account_created", "account_id", "created_at"),
        Index("ix_notifications_created", "created_at"),
        Index("ix_notifications_broadcast", "broadcast_id"),
        Index("uq_notifications_dedup", "account_id", "channel", "dedup_key", unique=True),
    )
