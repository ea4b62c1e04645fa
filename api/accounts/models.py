from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, Numeric, String, Uuid, true
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import UTCDateTime, utcnow

STAFF_ROLES = ("admin", "moderator", "analyst", "viewer")
ROLES = (*STAFF_ROLES, "user")
# Roles that may do nothing but enrol a second factor until they have one: every staff role (a moderator
# reads every chat and grants credits, an analyst reads everyone's figures).
TWO_FACTOR_REQUIRED_ROLES = STAFF_ROLES


class Plan(Base):
    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Completions per user per UTC day; None means unlimited.
    daily_requests: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Model tiers the plan may call, comma-separated ("free", "free,paid").
    model_tiers: Mapped[str] = mapped_column(String(64), default="free")
    # Tokens (in + out) per UTC day and per calendar month, chats kept, messages per chat; None: no limit.
    tokens_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_per_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_chats: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_messages_per_chat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Listed to everyone by GET /api/v1/plans; a plan staff keep for some accounts only is not.
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # What the plan costs a month, in the credit rate's currency; None: not priced (a free plan).
    price_monthly: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), nullable=True)

    @property
    def tiers(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.model_tiers.split(",") if t.strip())


class Account(Base):
    """End users and staff share one account model; `role` tells them apart."""

    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="user")
    plan_code: Mapped[str] = mapped_column(ForeignKey("plans.code"), default="free")
    # When a plan bought with credits ends (POST /api/v1/me/plan): past it, the account is back on the
    # default plan at its next request (api/accounts/term.py). None: the plan does not end (the default
    # plan, or one staff assigned).
    plan_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # What the account is called in the portal and in mails (PATCH /api/v1/me); None: not given.
    display_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The language of the texts sent to the account (notifications): "en" or "ru".
    locale: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    is_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # TOTP: the secret, encrypted; enabled once the first code was verified; the last time step used.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(300), nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Credits; changed only together with a credit_ledger row, never below zero.
    balance: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal(0))
    # When the account was deleted (DELETE /api/v1/me): its row stays, as a tombstone (decision 0047).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def must_enrol_two_factor(self) -> bool:
        return self.role in TWO_FACTOR_REQUIRED_ROLES and not self.two_factor_enabled

    def __repr__(self) -> str:
        return f"Account(id={self.id}, email={self.email!r}, role={self.role!r})"
