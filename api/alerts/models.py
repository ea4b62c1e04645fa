"""Alert rules and their history (migration 0012).

A rule watches one figure of the LLM calls over a trailing window (error rate, p95 latency, spend, provider
failures) and fires when the figure exceeds its threshold. Every transition (ok → firing, firing → ok) and
every repeat while firing is one `alert_events` row, with how its notification fared.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, UTCDateTime

Figure = Numeric(18, 6)


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    # error_rate | p95_latency_ms | spend_usd | provider_failures (api/alerts/schemas.py: Metric)
    metric: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)  # only this provider's calls
    window_minutes: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[Decimal] = mapped_column(Figure)  # fires when the figure is above it
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    target: Mapped[str] = mapped_column(String(500))  # an email address or an http(s) URL
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # While firing, notify again every this many minutes (none: once per ok → firing transition).
    repeat_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notify_resolved: Mapped[bool] = mapped_column(Boolean, default=True)  # notify on firing → ok
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | firing
    last_value: Mapped[Decimal | None] = mapped_column(Figure, nullable=True)
    # The evaluation claim: an evaluator updates a rule only where this is still what it read.
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)

    __table_args__ = (UniqueConstraint("name", name="uq_alert_rules_name"),)


class AlertEvent(Base):
    """What fired or resolved, with the figure, and whether the notification reached its target. Kept when
    the rule is deleted (its name is copied here)."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    rule_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("alert_rules.id", ondelete="SET NULL"), nullable=True
    )
    rule_name: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))  # fired | repeated | resolved
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(Figure)
    threshold: Mapped[Decimal] = mapped_column(Figure)
    window_minutes: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(500))
    # pending (webhook being sent) | sent | failed | queued (email: see the outbox row) | skipped
    delivery_status: Mapped[str] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The email channel's outbox row: its sent_at / last_error say whether the mail went out.
    email_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("email_outbox.id", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (
        Index("ix_alert_events_occurred_at", "occurred_at"),
        Index("ix_alert_events_rule_time", "rule_id", "occurred_at"),
    )
