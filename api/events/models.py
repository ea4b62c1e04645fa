"""The `usage_events` outbox: the data contract between the API and the warehouse.

Rows are immutable and written in the same transaction as the change they describe
(see ARCHITECTURE.md, "The usage-event contract"). Extend the columns and types, never rename.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Integer, Numeric, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime
from api.events.types import LLM_CALLS

# The completions' own events, word for word as the request explorer's query says it (api/calls/repository.py)
# and as its partial indexes are built: so PostgreSQL and SQLite see the query implies the index's predicate,
# also in a prepared statement's generic plan (the values are in the SQL, not parameters).
CALLS_ONLY = "type IN ({})".format(", ".join(f"'{t.value}'" for t in sorted(LLM_CALLS)))


class UsageEvent(Base):
    __tablename__ = "usage_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    chat_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    role_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    provider: Mapped[str | None] = mapped_column(String(64), nullable=True)
    plan: Mapped[str | None] = mapped_column(String(32), nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(18, 8), nullable=True)
    credits: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    client: Mapped[str | None] = mapped_column(String(32), nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    __table_args__ = (
        Index("ix_usage_events_occurred_at", "occurred_at"),
        Index("ix_usage_events_user_time", "user_id", "occurred_at"),
        # The request explorer's filters on model and status, in its keyset order (newest id first):
        # migration 0024, docs/decisions/0046.
        *(
            Index(
                f"ix_usage_events_calls_{column}",
                column,
                "id",
                postgresql_where=text(CALLS_ONLY),
                sqlite_where=text(CALLS_ONLY),
            )
            for column in ("model_id", "status")
        ),
    )
