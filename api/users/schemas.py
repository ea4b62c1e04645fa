from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class QuotaOut(BaseModel):
    used: int
    limit: int | None
    remaining: int | None
    resets_at: datetime | None


class UsageOut(BaseModel):
    plan: str
    requests_today: QuotaOut
    tokens_today: QuotaOut
    tokens_this_month: QuotaOut
    chats: QuotaOut
