"""Guardrail policies of roles and plans, and the moderation queue of what they stopped
(docs/decisions/0056)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime


class GuardrailPolicy(Base):
    """One role's or one plan's guardrails. No foreign key: a role and a plan live in two tables, and a
    policy left by a deleted role applies to nothing (a role made again under its id finds it)."""

    __tablename__ = "guardrail_policies"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # role | plan
    target: Mapped[str] = mapped_column(String(64), primary_key=True)  # the role's id, the plan's code
    redact_pii: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"id": "no-weapons", "kind": "term" | "pattern", "value": "..."}], at most 50, checked when saved.
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class ModerationFlag(Base):
    """A call a guardrail refused, waiting for a moderator: `open`, then `dismissed` or `blocked` (the user).
    It names the rule, never the text that matched it."""

    __tablename__ = "moderation_flags"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The refused call's reference (its guardrail.blocked event's properties.reference) and its chat, if any.
    reference: Mapped[uuid.UUID] = mapped_column(Uuid)
    chat_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    role_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))  # content_blocked
    policy: Mapped[str] = mapped_column(String(80))  # "role:<id>" or "plan:<code>"
    rule: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | dismissed | blocked
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_note: Mapped[str | None] = mapped_column(String(500), nullable=True)

    __table_args__ = (
        Index("ix_moderation_flags_status", "status", "id"),
        Index("ix_moderation_flags_account", "account_id", "status"),
    )
