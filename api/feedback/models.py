"""The latest score of each completion, kept to answer a change of mind and to erase a deleted account's
comments; analytics reads the `feedback.given` events, every score included (docs/decisions/0054)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import UTCDateTime

RATINGS = ("up", "down")
LOWEST, HIGHEST = 1, 5  # the range of a numeric score


class CompletionFeedback(Base):
    """One row per completion (the primary key is what makes a burst of the same score one row): its
    caller's latest score, and the call's model, role, role version, provider and plan, copied from its
    `llm.call_succeeded` when first scored."""

    __tablename__ = "completion_feedback"

    # The completion's reference: its id `chatcmpl-<hex>` without the prefix, its success event's event_id.
    completion_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    rating: Mapped[str | None] = mapped_column(String(8), nullable=True)  # up | down
    value: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # 1..5
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    role_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    plan: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_completion_feedback_account", "account_id"),
        # Exactly one of a rating and a value, the value in its range: the schema refuses the rest first.
        CheckConstraint(
            f"(rating IN ('up', 'down') AND value IS NULL) OR "
            f"(rating IS NULL AND value BETWEEN {LOWEST} AND {HIGHEST})",
            name="ck_completion_feedback_score",
        ),
    )
