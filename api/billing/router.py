"""`/api/v1/me/balance`: one's credits, their movements, and test top-ups."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.auth.deps import CurrentAccount, RequestCtx
from api.billing import service as billing
from api.billing.schemas import BalanceOut, LedgerEntryOut, TopUpIn, TopUpOut
from api.billing.service import CurrencyMismatch, TopUpsDisabled
from api.core import idempotency
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import AccountBlocked, NotAuthenticated, responses
from api.core.idempotency import IdempotencyInProgress, IdempotencyKey, IdempotencyKeyReused
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/me/balance", tags=["balance"])


@router.get("", responses=responses(NotAuthenticated, AccountBlocked))
async def my_balance(account: CurrentAccount, session: SessionDep) -> BalanceOut:
    rate = await billing.credit_rate(session)
    entries = await billing.recent_entries(session, account.id)
    return BalanceOut(
        balance=await billing.balance_of(session, account.id),
        currency=rate.currency,
        price_per_credit=rate.price_per_credit,
        entries=[LedgerEntryOut.of(e) for e in entries],
    )


@router.post(
    "/top-up",
    status_code=status.HTTP_201_CREATED,
    responses=responses(
        NotAuthenticated,
        AccountBlocked,
        TopUpsDisabled,
        CurrencyMismatch,
        IdempotencyInProgress,
        IdempotencyKeyReused,
    ),
)
async def top_up(
    body: TopUpIn,
    account: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
    ctx: RequestCtx,
    idempotency_key: IdempotencyKey = None,
) -> TopUpOut:
    """A test top-up (no payment): `amount` of money at the admin-set rate becomes credits.

    Send an `Idempotency-Key` to make a retry safe: the same key answers the first result again."""

    async def produce() -> TopUpOut:
        credits, balance = await billing.top_up(
            session, settings, account, amount=body.amount, currency=body.currency, ctx=ctx, at=utcnow()
        )
        return TopUpOut(credits=credits, balance=balance)

    return await idempotency.once(session, account.id, idempotency_key, body, 201, produce, utcnow())
