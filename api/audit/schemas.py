"""What the audit log looks like from outside."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None


Name = Annotated[str, StringConstraints(pattern=r"^[\w.@+-]{1,200}$")]


class DownloadIn(BaseModel):
    """A table the panel let a staff member download as shown (its own CSV or XLSX, made in the panel)."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="the file's name without its extension, e.g. top_users_20261101_20261130")
    format: Literal["csv", "xlsx"]
    rows: int = Field(ge=0, le=100_000_000)
    columns: list[Annotated[str, StringConstraints(max_length=200)]] = Field(max_length=200)
