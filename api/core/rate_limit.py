"""Fixed-window request counters in the database: every replica counts into the same rows.

`hit` counts one request into each of its buckets (one atomic upsert per bucket, as quotas do) and refuses
it with 429 `too_many_requests` and `Retry-After` when any bucket is over its limit in the current window.
The rows of windows that have ended are deleted as requests come (any window length may share the table).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, String, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base, insert_for
from api.core.errors import AppError
from api.core.types import UTCDateTime

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class RateLimitHit(Base):
    """How many requests one bucket (an action and who or what it is about) took in one window."""

    __tablename__ = "rate_limit_hits"

    bucket: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the window's end
    hits: Mapped[int] = mapped_column(Integer)


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    type = "rate_limit_error"


async def hit(
    session: AsyncSession, buckets: dict[str, int], *, window: timedelta, at: datetime, message: str
) -> None:
    """Count this request in each bucket (name → limit per window) and commit; refuse it if one is over.

    A refused request is counted too: it cannot keep a window open, which ends at a fixed time.
    """
    start = EPOCH + (at - EPOCH) // window * window
    end = start + window
    insert = insert_for(session)
    over = False
    for bucket, limit in buckets.items():
        stmt = insert(RateLimitHit).values(bucket=bucket, window_start=start, expires_at=end, hits=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["bucket", "window_start"], set_={"hits": RateLimitHit.hits + 1}
        ).returning(RateLimitHit.hits)
        over |= (await session.execute(stmt)).scalar_one() > limit
    await session.execute(delete(RateLimitHit).where(RateLimitHit.expires_at <= at))
    await session.commit()
    if over:
        retry_after = max(1, math.ceil((end - at).total_seconds()))
        raise TooManyRequests(message, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)
