"""The system domain in and out: health, live figures, the error log, settings and plans."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Limit = Annotated[int | None, Field(ge=0, le=2**31 - 1)]  # what the INTEGER columns of plans hold

# ---------------------------------------------------------------- health, live, errors


class DatabaseHealth(BaseModel):
    ok: bool
    latency_ms: float


class WarehouseHealth(BaseModel):
    published_at: datetime | None
    age_seconds: int | None


class PipelineHealth(BaseModel):
    ok: bool
    last_run: dict[str, Any] | None
    last_success: dict[str, Any] | None
    last_failure: dict[str, Any] | None


class ProviderHealth(BaseModel):
    id: str
    kind: str
    calls_succeeded: int
    calls_failed: int


class HealthOut(BaseModel):
    status: str  # "ok", or "degraded" when the last pipeline run failed
    checked_at: datetime
    database: DatabaseHealth
    warehouse: WarehouseHealth
    pipeline: PipelineHealth
    providers: list[ProviderHealth]


class LiveWindow(BaseModel):
    minutes: int
    requests: int  # LLM calls
    errors: int  # failed LLM calls
    error_rate: float | None
    active_users: int  # end users who did anything (the warehouse's definition of active)
    latency_p95_ms: float | None


class LiveOut(BaseModel):
    at: datetime
    windows: list[LiveWindow]


class ThroughputMinute(BaseModel):
    minute: datetime  # its start, UTC
    model: str | None
    provider: str | None
    requests: int  # LLM calls begun and ended in that minute's events (RPM)
    errors: int  # of which failed
    input_tokens: int
    output_tokens: int
    tokens: int  # input + output (TPM)


class ThroughputOut(BaseModel):
    at: datetime
    hours: int
    since: datetime
    minutes: list[ThroughputMinute]  # minute, model, provider with at least one call, in time order


class ErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    kind: str
    request_id: str | None
    method: str | None
    path: str | None
    status: int | None
    error_type: str
    message: str
    account_id: uuid.UUID | None
    details: dict[str, Any]


# ---------------------------------------------------------------- settings and plans


class CreditRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    price_per_credit: Annotated[Decimal, Field(gt=0, le=10**6, decimal_places=6)]  # what a credit costs
    usd_per_credit: Annotated[Decimal, Field(gt=0, le=10**6, decimal_places=6)]  # what it covers


class SettingsOut(BaseModel):
    credit_rate: CreditRateIn
    registration_open: bool
    default_plan: str


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credit_rate: CreditRateIn | None = None
    registration_open: bool | None = None
    default_plan: Annotated[str | None, Field(pattern=r"^[a-z0-9_-]{1,32}$")] = None


class PlanFields(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    name: Annotated[str, Field(min_length=1, max_length=100)]
    model_tiers: Annotated[str, Field(pattern=r"^(free|paid)(,(free|paid))*$", max_length=64)] = "free"
    daily_requests: Limit = None
    tokens_per_day: Limit = None
    tokens_per_month: Limit = None
    max_chats: Limit = None
    max_messages_per_chat: Limit = None
    public: bool = Field(default=True, description="listed to everyone by GET /api/v1/plans")
    price_monthly: Annotated[Decimal | None, Field(ge=0, le=10**9, decimal_places=2)] = Field(
        default=None, description="a month's price in the credit rate's currency; null: not priced"
    )


class PlanOut(PlanFields):
    code: str


class PlanIn(PlanFields):
    code: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
