"""The security log: logins (the login history), lockouts, refresh-token reuse, 2FA and password changes;
and the throttling counters of password and second-factor checks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Uuid
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


class AttemptCounter(Base):
    """Checks of a password or second factor taken against one throttling key (an account from one source,
    a source, an account from anywhere) in the current window; see docs/decisions/0032.

    An attempt is taken before its check and kept when the check fails, so a burst of simultaneous guesses
    can take no more than `limit`. A full counter blocks its key until `blocked_until`; each block of the
    same key lasts twice the one before (`lockouts`), up to a cap.
    """

    __tablename__ = "attempt_counters"

    key: Mapped[str] = mapped_column(String(420), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
