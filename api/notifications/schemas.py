from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.core.validation import Country, SafeStr, Strict
from api.notifications.service import Segment, SegmentKind

Channel = Literal["email", "in_app"]
Channels = Annotated[list[Channel], Field(min_length=1, max_length=2)]


class Text(Strict):
    subject: Annotated[SafeStr, Field(min_length=1, max_length=300)]
    body: Annotated[SafeStr, Field(min_length=1, max_length=20_000)]


class Texts(Strict):
    """The text per locale; users whose locale has no text get the English one."""

    en: Text
    ru: Text | None = None

    def as_dict(self) -> dict[str, dict[str, str]]:
        return self.model_dump(exclude_none=True)


class SegmentIn(Strict):
    kind: SegmentKind = "all"
    plan: Annotated[str | None, Field(min_length=1, max_length=32)] = None
    country: Country | None = None
    inactive_days: Annotated[int | None, Field(ge=1, le=3650)] = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        needs = {"plan": "plan", "country": "country", "inactive": "inactive_days"}.get(self.kind)
        given = {name for name in ("plan", "country", "inactive_days") if getattr(self, name) is not None}
        if given - {needs}:
            raise ValueError(f"a {self.kind!r} segment takes no {sorted(given - {needs})}")
        if needs and needs not in given:
            raise ValueError(f"a {self.kind!r} segment needs {needs!r}")
        return self

    def segment(self) -> Segment:
        return Segment(self.kind, self.plan, self.country, self.inactive_days)


class BroadcastIn(Strict):
    segment: SegmentIn
    channels: Channels
    texts: Texts


class AudienceOut(BaseModel):
    recipients: int


class BroadcastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    created_by_email: str | None
    segment: dict
    channels: list[str]
    templates: dict
    recipients: int


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    enabled: bool
    channels: list[str]
    threshold: Decimal | None
    templates: dict
    updated_at: datetime
    placeholders: list[str] = []


class RuleIn(Strict):
    enabled: bool | None = None
    channels: Annotated[list[Channel], Field(max_length=2)] | None = None
    threshold: Annotated[Decimal | None, Field(ge=0, lt=10**9, max_digits=16, decimal_places=6)] = None
    texts: Texts | None = None


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    subject: str
    body: str
    read_at: datetime | None
    broadcast_id: int | None
    rule: str | None


class InboxOut(BaseModel):
    total: int
    unread: int
    items: list[NotificationOut]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    account_id: uuid.UUID
    email: str
    channel: str
    broadcast_id: int | None
    rule: str | None
    locale: str
    subject: str
    status: Literal["delivered", "read", "queued", "sent", "retrying", "failed"]
    sent_at: datetime | None
    attempts: int | None
    error: str | None
    read_at: datetime | None


class DeliveryPage(BaseModel):
    total: int
    items: list[DeliveryOut]
