"""The security log: logins (the login history), lockouts, refresh-token reuse, 2FA and password changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime


class SecurityEvent(Base):
    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    # The email as typed at login (normalised), also when no account has it: throttling keys on it.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    __table_args__ = (
        Index("ix_security_events_email_time", "email", "occurred_at"),
        Index("ix_security_events_ip_time", "ip", "occurred_at"),
        Index("ix_security_events_account_time", "account_id", "occurred_at"),
    )
