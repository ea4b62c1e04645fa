"""The audit log: every change staff make, with who, what, to what, before and after, from where."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime


class AuditEntry(Base):
    """Rows are never changed or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    actor_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    action: Mapped[str] = mapped_column(String(64))  # e.g. "user.block", "user.plan_change"
    target_type: Mapped[str] = mapped_column(String(32))  # "account", "model", …
    target_id: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_audit_log_occurred_at", "occurred_at"),
        Index("ix_audit_log_actor", "actor_id", "occurred_at"),
        Index("ix_audit_log_target", "target_type", "target_id", "occurred_at"),
        Index("ix_audit_log_action", "action", "occurred_at"),
    )
