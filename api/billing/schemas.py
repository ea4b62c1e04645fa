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
    """A movement of one's credits as its owner sees it: what it was in plain words, never who on the staff
    made an adjustment or why (the ledger's details are for staff: the audit log and the admin API)."""

    id: int
    kind: str = Field(
        description="charge, refund, top_up, adjustment, plan_purchase, …: stable, for an app to translate"
    )
    amount: Decimal
    balance_after: Decimal
    created_at: datetime
    model: str | None = Field(description="the model of the call charged or refunded")
    description: str

    @classmethod
    def of(cls, entry: Any) -> LedgerEntryOut:
        details = entry.details or {}
        model = details.get("model") if entry.kind in ("charge", "refund") else None
        return cls(
            id=entry.id,
            kind=entry.kind,
            amount=entry.amount,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
            model=model if isinstance(model, str) else None,
            description=_describe(entry, details, model if isinstance(model, str) else None),
        )


def _describe(entry: Any, details: dict[str, Any], model: str | None) -> str:
    kind = entry.kind
    call = f"a call to {model}" if model else "a call"
    if kind == "charge":
        return f"Charge for {call}"
    if kind == "refund":
        reason = details.get("reason")
        if reason == "call_failed":
            return f"Refund for {call} that failed"
        if reason == "settlement_lost":
            return f"Refund for {call} that was not completed"
        return f"Refund of what {call} did not use"
    if kind == "top_up":
        amount, currency = details.get("amount"), details.get("currency")
        return f"Top-up of {amount} {currency}" if amount and currency else "Top-up"
    if kind == "plan_purchase":
        plan = details.get("plan")
        return f"A month of the {plan} plan" if isinstance(plan, str) else "A month of a plan"
    if kind == "adjustment":
        return "Credits added by support" if entry.amount >= 0 else "Credits taken back by support"
    return kind.replace("_", " ").capitalize()


class BalanceOut(BaseModel):
    balance: Decimal
    currency: str
    price_per_credit: Decimal
    entries: list[LedgerEntryOut]
