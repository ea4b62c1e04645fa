from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[Decimal, Field(gt=0, le=1_000_000, max_digits=14, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]


class TopUpOut(BaseModel):
    credits: Decimal
    balance: Decimal


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    amount: Decimal
    balance_after: Decimal
    reference: str | None
    created_at: datetime
    details: dict[str, Any]


class BalanceOut(BaseModel):
    balance: Decimal
    currency: str
    price_per_credit: Decimal
    entries: list[LedgerEntryOut]
