from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field

from api.auth.permissions import ROLE_PERMISSIONS


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    plan_code: str
    country: str | None
    locale: str
    is_blocked: bool
    created_at: datetime
    email_verified_at: datetime | None
    two_factor_enabled: bool
    # Its role needs a second factor and it has none yet: it may do nothing else until it enrols.
    must_enrol_two_factor: bool

    @computed_field
    @property
    def permissions(self) -> list[str]:
        """What this account's role may do (the panel shows only the pages these allow)."""
        return sorted(ROLE_PERMISSIONS.get(self.role, frozenset()))


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
