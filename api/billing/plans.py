"""An end user buys a plan with credits (POST /api/v1/me/plan): a month of a priced public plan for its
monthly price in credits, or a move back to the default plan for nothing.

One transaction, with the account's row locked: the charge (a conditional UPDATE and a `plan_purchase`
ledger row), the plan and its end, and the events `balance.charged` and `plan.changed`. Nothing renews a
plan; past its end the account is back on the default plan (api/accounts/term.py).
docs/decisions/0050-self-service-plan-purchase.md says why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.accounts import repository as accounts
from api.accounts import settings as account_settings
from api.accounts import term
from api.accounts.models import Account
from api.billing import repository as repo
from api.billing.service import InsufficientBalance, credit_rate
from api.core.errors import AppError, Conflict, NotAuthenticated, NotFound
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType

LEDGER_KIND = "plan_purchase"


class PlanNotFound(NotFound):
    code = "plan_not_found"


class PlanNotForSale(Conflict):
    code = "plan_not_for_sale"


class PlanDoesNotEnd(Conflict):
    """The account holds this plan with no end (the default plan, or one staff assigned): nothing to buy."""

    code = "no_change"


REFUSALS: tuple[type[AppError], ...] = (PlanNotFound, PlanNotForSale, PlanDoesNotEnd, InsufficientBalance)


@dataclass(frozen=True, slots=True)
class Bought:
    plan: str
    expires_at: datetime | None
    charged: Decimal  # credits
    balance: Decimal


async def buy(
    session: AsyncSession, account: Account, code: str, *, at: datetime, ctx: RequestContext
) -> Bought:
    """Put `account` on the public plan `code`: a priced one for a month (from the current end when it is
    the plan it holds and that has not ended: an extension) at its monthly price in credits, rounded up to
    the next millionth of a credit; the default plan, if unpriced, at once and for nothing (no refund of
    what is left of a bought plan). Commits; refuses with nothing changed."""
    plan = await accounts.get_plan(session, code)
    if plan is None or not plan.public:
        raise PlanNotFound(f"there is no plan {code!r} to choose", params={"plan": code})
    default = await account_settings.default_plan(session)
    if plan.price_monthly is None and plan.code != default:
        raise PlanNotForSale(
            f"plan {code!r} has no price: ask support to move you to it", params={"plan": code}
        )
    [account] = await accounts.lock_accounts(session, [account.id])  # read afresh: two clicks queue here
    if account.deleted_at is not None:
        raise NotAuthenticated("this account was deleted")
    if account.plan_code == code and account.plan_expires_at is None:
        raise PlanDoesNotEnd(f"you are on {code!r} already, with no end date", params={"plan": code})
    before = account.plan_code
    if plan.price_monthly is None:  # back to the default plan: no charge, no end
        charged, expires_at, balance, reference = Decimal(0), None, account.balance, None
    else:
        rate = await credit_rate(session)
        charged, expires_at = rate.credits_to_charge(plan.price_monthly), term.ends_after(account, code, at)
        reference = f"plan-{uuid.uuid4().hex}"
        balance = await repo.move(
            session, account.id, -charged, kind=LEDGER_KIND, at=at, reference=reference,
            details={"plan": code, "price": str(plan.price_monthly), "currency": rate.currency,
                     "expires_at": expires_at.isoformat()},
        )  # fmt: skip
        if balance is None:
            raise InsufficientBalance(
                f"plan {code!r} costs {charged} credits a month and the balance is {account.balance}: "
                "top up first",
                params={"plan": code, "price": str(charged), "balance": str(account.balance)},
            )
        record(
            session, EventType.BALANCE_CHARGED, at=at, ctx=ctx, **about(account), credits=charged,
            status="ok", properties={"reference": reference, "reason": LEDGER_KIND, "to": code},
        )  # fmt: skip
    account.plan_code, account.plan_expires_at = code, expires_at
    set_committed_value(account, "balance", balance)  # what the UPDATE left (the ORM did not see it)
    record(
        session, EventType.PLAN_CHANGED, at=at, ctx=ctx, **about(account), credits=charged or None,
        status="ok",
        properties={"from": before, "to": code, "reason": "purchase" if reference else "chosen",
                    "expires_at": expires_at.isoformat() if expires_at else None, "reference": reference},
    )  # fmt: skip
    await session.commit()
    return Bought(code, expires_at, charged, balance)
