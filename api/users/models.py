from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import UTCDateTime, utcnow

STAFF_ROLES = ("admin", "moderator", "analyst", "viewer")
ROLES = (*STAFF_ROLES, "user")


class Plan(Base):
    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Completions per user per UTC day; None means unlimited.
    daily_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Account(Base):
    """End users and staff share one account model; `role` tells them apart."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="user")
    plan_code: Mapped[str] = mapped_column(ForeignKey("plans.code"), default="free")
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    is_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES
