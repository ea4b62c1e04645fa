"""The security log as staff and each user see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class SecurityEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    kind: str
    outcome: str
    account_id: uuid.UUID | None
    email: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]
