"""The response cache: answers kept for exact repeats of a request, and the models' and roles' rules for
it (docs/decisions/0057)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Index, Integer, Numeric, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import UTCDateTime


class CachedResponse(Base):
    """One answer, under the sha256 of its request's canonical JSON (api/cache/service.py `cache_key`).
    The model, role and scope are kept beside the key so that staff can clear by model or role."""

    __tablename__ = "response_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128))
    role_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scope: Mapped[str] = mapped_column(String(64))  # the user's id, or "shared" (a role that shares)
    answer: Mapped[str] = mapped_column(Text)
    finish_reason: Mapped[str] = mapped_column(String(32))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    # What the provider call cost when the answer was made: a hit's `saved_cost_usd`.
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(18, 8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_response_cache_expires", "expires_at"),
        Index("ix_response_cache_created", "created_at"),
        Index("ix_response_cache_model", "model_id"),
        Index("ix_response_cache_role", "role_id"),
    )


class CacheRule(Base):
    """A model's or a role's response cache: on with a TTL (a row), off (no row). No foreign key, as for
    guardrails: a model and a role live in two tables."""

    __tablename__ = "response_cache_rules"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # model | role
    target: Mapped[str] = mapped_column(String(128), primary_key=True)  # the model's or the role's id
    ttl_seconds: Mapped[int] = mapped_column(Integer)
    # A role's answers served to every user who sends the same request (a model's never are).
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
