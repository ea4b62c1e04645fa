"""Credits: every change of a balance is one conditional UPDATE plus one ledger row, in one transaction.

`UPDATE accounts SET balance = balance + :amount WHERE id = :id [AND balance >= -:amount]` is atomic on
PostgreSQL (the row is locked and the condition re-checked) and on SQLite (under the write lock), so
concurrent charges can never take a balance below zero.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.billing.models import LedgerEntry, ReservationSettlement
from api.core.app_settings import AppSetting
from api.core.db import insert_for
from api.core.errors import AppError, Forbidden
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType

STEP = Decimal("0.000001")  # credits are kept to six decimals


class InsufficientBalance(AppError):
    status_code = 402
    code = "insufficient_balance"
    type = "insufficient_quota"


class CurrencyMismatch(AppError):
    status_code = 422
    code = "currency_mismatch"


@dataclass(frozen=True, slots=True)
class CreditRate:
    currency: str
    price_per_credit: Decimal  # what one credit costs, in `currency`
    usd_per_credit: Decimal  # what one credit covers of provider cost

    def credits_for_usd(self, cost_usd: Decimal) -> Decimal:
        """The credits a provider cost takes, rounded up to the next millionth of a credit."""
        return (cost_usd / self.usd_per_credit).quantize(STEP, rounding=ROUND_CEILING)

    def credits_for_money(self, amount: Decimal) -> Decimal:
        return (amount / self.price_per_credit).quantize(STEP, rounding=ROUND_FLOOR)


async def credit_rate(session: AsyncSession) -> CreditRate:
    value = (await session.get(AppSetting, "credit_rate")).value
    return CreditRate(value["currency"], Decimal(value["price_per_credit"]), Decimal(value["usd_per_credit"]))


async def set_credit_rate(session: AsyncSession, rate: CreditRate, at: datetime) -> None:
    """Change the rate (the caller commits; gateways pick it up with their next catalogue snapshot)."""
    row = await session.get(AppSetting, "credit_rate")
    row.value = {
        "currency": rate.currency,
        "price_per_credit": str(rate.price_per_credit),
        "usd_per_credit": str(rate.usd_per_credit),
    }
    row.updated_at = at


async def move(
    session: AsyncSession,
    account_id: uuid.UUID,
    amount: Decimal,
    *,
    kind: str,
    at: datetime,
    reference: str | None = None,
    details: dict[str, Any] | None = None,
) -> Decimal | None:
    """Add `amount` (negative: take) and append its ledger row; None, and nothing done, if the balance
    would go below zero. The caller commits."""
    statement = update(Account).where(Account.id == account_id)
    if amount < 0:
        statement = statement.where(Account.balance >= -amount)
    statement = statement.values(balance=Account.balance + amount).returning(Account.balance)
    balance = (
        await session.execute(statement.execution_options(synchronize_session=False))
    ).scalar_one_or_none()
    if balance is None:
        return None
    await session.execute(  # a plain INSERT: rows are never read back or changed in the session
        insert(LedgerEntry.__table__).values(
            account_id=account_id,
            kind=kind,
            amount=amount,
            balance_after=balance,
            reference=reference,
            created_at=at,
            details=details or {},
        )
    )
    return balance


async def claim_reservation(
    session: AsyncSession, reference: str, account_id: uuid.UUID, outcome: str, at: datetime
) -> bool:
    """End the reservation `reference` as `outcome` (settled, refunded, lost): whether this caller did, or
    it was already ended (then change nothing). The row stays locked until the caller's transaction ends."""
    claimed = await session.execute(
        insert_for(session)(ReservationSettlement)
        .values(reference=reference, account_id=account_id, outcome=outcome, created_at=at)
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(ReservationSettlement.reference)
    )
    return claimed.scalar_one_or_none() is not None


async def balance_of(session: AsyncSession, account_id: uuid.UUID) -> Decimal:
    return await session.scalar(select(Account.balance).where(Account.id == account_id))


async def recent_entries(session: AsyncSession, account_id: uuid.UUID, limit: int = 50) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id.desc())
    return list((await session.scalars(query.limit(limit))).all())


async def top_up(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    amount: Decimal,
    currency: str,
    ctx: RequestContext,
    at: datetime,
) -> tuple[Decimal, Decimal]:
    """A test top-up (no payment): money at the admin-set rate becomes credits. Returns (credits, balance)."""
    if not settings.test_top_ups:
        raise Forbidden("test top-ups are disabled here (AIADMIN_TEST_TOP_UPS)")
    rate = await credit_rate(session)
    if currency.upper() != rate.currency:
        raise CurrencyMismatch(f"top-ups are in {rate.currency}")
    credits = rate.credits_for_money(amount)
    reference = f"topup-{uuid.uuid4().hex}"
    balance = await move(
        session,
        account.id,
        credits,
        kind="top_up",
        at=at,
        reference=reference,
        details={"amount": str(amount), "currency": rate.currency, "test": True},
    )
    record(
        session,
        EventType.BALANCE_TOPPED_UP,
        at=at,
        ctx=ctx,
        **about(account),
        credits=credits,
        status="ok",
        properties={"amount": str(amount), "currency": rate.currency, "reference": reference},
    )
    await session.commit()
    return credits, balance
