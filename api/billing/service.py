"""Credits: the credit rate, test top-ups, and the primitives that move a balance (their SQL, one
conditional UPDATE plus one ledger row, is api/billing/repository.py); the caller commits them in its own
transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.billing import repository as repo
from api.core.errors import AppError, Forbidden
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType

STEP = Decimal("0.000001")  # credits are kept to six decimals


class InsufficientBalance(AppError):
    status_code = 402
    code = "insufficient_balance"
    type = "insufficient_quota"


class TopUpsDisabled(Forbidden):
    """No payment exists yet, and the test top-up is off here (production's default)."""

    code = "top_ups_disabled"


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
        """The credits `amount` of money buys, rounded down: a top-up never gives a fraction more."""
        return (amount / self.price_per_credit).quantize(STEP, rounding=ROUND_FLOOR)

    def credits_to_charge(self, amount: Decimal) -> Decimal:
        """The credits that pay `amount` of money (a plan's price), rounded up: a charge never takes a
        fraction less."""
        return (amount / self.price_per_credit).quantize(STEP, rounding=ROUND_CEILING)


async def credit_rate(session: AsyncSession) -> CreditRate:
    value = (await repo.credit_rate_setting(session)).value
    return CreditRate(value["currency"], Decimal(value["price_per_credit"]), Decimal(value["usd_per_credit"]))


async def set_credit_rate(session: AsyncSession, rate: CreditRate, at: datetime) -> None:
    """Change the rate (the caller commits; gateways pick it up with their next catalogue snapshot)."""
    row = await repo.credit_rate_setting(session)
    row.value = {
        "currency": rate.currency,
        "price_per_credit": str(rate.price_per_credit),
        "usd_per_credit": str(rate.usd_per_credit),
    }
    row.updated_at = at


# Moving credits, ending a reservation and reading a balance are the repository's single statements; the
# gateway, recovery and the admin side call them through this module. Bound here, not wrapped: `move` and
# `claim_reservation` run on every paid completion and must cost no extra call.
move, claim_reservation = repo.move, repo.claim_reservation
balance_of, recent_entries = repo.balance_of, repo.recent_entries


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
        raise TopUpsDisabled(
            "test top-ups are disabled here (AIADMIN_TEST_TOP_UPS) and no payments exist yet"
        )
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
