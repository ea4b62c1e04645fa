"""What the request explorer shows of a call."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel


class CallOut(BaseModel):
    """One completion, from its usage event (id: the event's)."""

    id: int
    occurred_at: datetime
    outcome: Literal["succeeded", "failed"]
    user_id: uuid.UUID | None
    email: str | None
    plan: str | None
    model_id: str | None
    role_id: str | None
    provider: str | None  # the provider that answered (failed: the last one tried)
    status: str | None  # ok | disconnected | error
    error_code: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    credits: Decimal | None
    latency_ms: int | None
    failed_attempts: int  # provider attempts that failed before the outcome (> 0 on a success: a fallback)


class CallPage(BaseModel):
    items: list[CallOut]
    next_before: int | None  # pass as `before` for the next page; None: this was the last


class AttemptOut(BaseModel):
    provider: str
    error: str | None  # None: this attempt answered


class CallDetailOut(CallOut):
    event_id: uuid.UUID
    reference: str | None  # the completion id's tail (`chatcmpl-<reference>`)
    request_id: str | None  # a failed call's request id, as the error log keeps it
    chat_id: uuid.UUID | None
    country: str | None
    client: str | None
    stream: bool
    usage_estimated: bool
    attempts: list[AttemptOut]  # every provider attempt in order, the answering one last
    properties: dict[str, Any]


class CallMessageOut(BaseModel):
    role: str
    content: str
    tokens: int
    model_id: str | None
    created_at: datetime


class CallMessagesOut(BaseModel):
    stored: bool  # False: the call named no chat (or failed), so nothing of it was kept
    messages: list[CallMessageOut]
