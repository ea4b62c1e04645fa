"""Alert rules and history in and out of the API. Input is strict: an unknown field, a value out of range, a
webhook that is not http(s) or an email address that is not one is a 422."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, TypeAdapter, model_validator

from api.core.validation import SafeStr

Metric = Literal["error_rate", "p95_latency_ms", "spend_usd", "provider_failures"]
Channel = Literal["email", "webhook"]
Kind = Literal["fired", "repeated", "resolved"]
DeliveryStatus = Literal["pending", "queued", "sent", "failed", "skipped"]

WEEK_MINUTES = 7 * 24 * 60
Name = Annotated[SafeStr, Field(min_length=1, max_length=100)]
ProviderId = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
Minutes = Annotated[int, Field(ge=1, le=WEEK_MINUTES)]
Threshold = Annotated[Decimal, Field(ge=0, le=10**12, max_digits=18, decimal_places=6)]
Target = Annotated[SafeStr, Field(min_length=3, max_length=500)]

_EMAIL = TypeAdapter(EmailStr)
_URL = TypeAdapter(AnyHttpUrl)


def valid_target(channel: str, target: str) -> str:
    """The target as stored: an email address (lower-cased) or an http(s) URL with a host."""
    target = target.strip()
    if channel == "email":
        return _EMAIL.validate_python(target).lower()
    url = _URL.validate_python(target)  # http and https only
    if not url.host or any(c.isspace() for c in target):
        raise ValueError("a webhook is an http(s) URL with a host")
    return target


def shown_target(channel: str, target: str) -> str:
    """How a target is shown: a webhook URL often carries its credential in the path or the query (a Slack
    hook, `?token=`), so only its scheme, host and last four characters are shown; an email address whole."""
    if channel != "webhook":
        return target
    parts = urlsplit(target)
    host = f"{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    rest = target[len(f"{parts.scheme}://{parts.netloc}") :]
    if not rest.strip("/"):
        return f"{parts.scheme}://{host}/"
    return f"{parts.scheme}://{host}/…{rest[-4:] if len(rest) >= 12 else ''}"


class RuleFields(BaseModel):
    """A whole rule, checked as one: the target fits the channel, an error rate is a fraction."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    metric: Metric
    provider: ProviderId | None = Field(
        default=None, description="only this provider's calls (default: every provider's)"
    )
    window_minutes: Minutes = Field(description="the trailing window; a spend-per-day rule is 1440")
    threshold: Threshold = Field(description="fires when the figure is above it (error_rate: 0..1)")
    channel: Channel
    target: Target = Field(description="an email address (email) or an http(s) URL (webhook)")
    enabled: bool = True
    repeat_minutes: Minutes | None = Field(
        default=None, description="while firing, notify again this often (default: once)"
    )
    notify_resolved: bool = Field(default=True, description="notify when the figure is back under")

    @model_validator(mode="after")
    def _consistent(self) -> RuleFields:
        self.name = self.name.strip()
        if not self.name:
            raise ValueError("name must not be blank")
        if self.metric == "error_rate" and self.threshold > 1:
            raise ValueError("an error_rate threshold is a fraction between 0 and 1")
        self.target = valid_target(self.channel, self.target)
        return self


class RuleIn(RuleFields):
    pass


class RulePatch(BaseModel):
    """Only the fields sent change; the rule they make is checked whole (as RuleIn)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    metric: Metric | None = None
    provider: ProviderId | None = None
    window_minutes: Minutes | None = None
    threshold: Threshold | None = None
    channel: Channel | None = None
    target: Target | None = None
    enabled: bool | None = None
    repeat_minutes: Minutes | None = None
    notify_resolved: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> RulePatch:
        nullable = {"provider", "repeat_minutes"}
        for name in self.model_fields_set - nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class RuleOut(BaseModel):
    id: int
    name: str
    metric: Metric
    provider: str | None
    window_minutes: int
    threshold: float
    channel: Channel
    target: str  # a webhook URL masked
    enabled: bool
    repeat_minutes: int | None
    notify_resolved: bool
    state: Literal["ok", "firing"]
    last_value: float | None
    last_evaluated_at: datetime | None
    last_notified_at: datetime | None
    created_at: datetime
    created_by: uuid.UUID | None
    updated_at: datetime
    updated_by: uuid.UUID | None


class AlertEventOut(BaseModel):
    id: int
    rule_id: int | None  # None once the rule is deleted
    rule_name: str
    occurred_at: datetime
    kind: Kind
    metric: Metric
    value: float
    threshold: float
    window_minutes: int
    channel: Channel
    target: str  # a webhook URL masked
    delivery_status: DeliveryStatus
    delivery_error: str | None
    delivered_at: datetime | None


class HistoryPage(BaseModel):
    total: int
    items: list[AlertEventOut]


class EvaluationOut(BaseModel):
    at: datetime
    evaluated: int  # rules this call evaluated (another replica may have claimed some)
    events: list[AlertEventOut]  # what fired, repeated or resolved, with how the notification fared
