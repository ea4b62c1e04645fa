"""What an end user may pick from, as the gateway decides it: `GET /api/v1/plans` (public) and
`GET /api/v1/me/roles`. Both read the gateway's catalogue snapshot (api/catalogue/service.py), so a list
says exactly what a completion accepts: at most `catalogue_cache_seconds` behind an edit, like the calls."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from fastapi import APIRouter, Request, Response

from api.auth.deps import CurrentAccount, Public
from api.billing.service import CreditRate
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, NotAuthenticated, responses
from api.gateway import service
from api.gateway.schemas import OfferedModelOut, PlanOfferOut, UsableRoleOut

router = APIRouter(prefix="/api/v1", tags=["portal"])
# Shared caches may keep the public list as long as the gateway's snapshot may lag behind an edit.
PLANS_MAX_AGE = 60


@router.get(
    "/plans",
    dependencies=[Public],
    response_model=list[PlanOfferOut],
    responses={304: {"description": "unchanged"}},
)
async def plans(request: Request, session: SessionDep) -> Response:
    """The plans anyone may see (a plan staff mark not public is not listed), cheapest first: price, limits
    (null: no limit) and the models each may call. Cacheable: `Cache-Control: public` and an `ETag`
    (`If-None-Match` answers 304)."""
    offered, catalogue = await service.plans_offered(session, request.app.state.gateway)
    rate = catalogue.credit_rate
    currency = rate.currency if rate else None
    body = [
        PlanOfferOut(
            code=p.code,
            name=p.name,
            price_monthly=None if p.price_monthly is None else str(p.price_monthly),
            currency=currency,
            price_credits=_credits(rate, p.price_monthly),
            daily_requests=p.daily_requests,
            tokens_per_day=p.tokens_per_day,
            tokens_per_month=p.tokens_per_month,
            max_chats=p.max_chats,
            max_messages_per_chat=p.max_messages_per_chat,
            models=[
                OfferedModelOut(id=m.id, name=m.display_name, tier=m.tier) for m in catalogue.offered(p.tiers)
            ],
        )
        for p in offered
    ]
    encoded = _json(body)
    etag = f'"{hashlib.sha256(encoded).hexdigest()[:32]}"'
    headers = {"Cache-Control": f"public, max-age={PLANS_MAX_AGE}", "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(encoded, media_type="application/json", headers=headers)


def _credits(rate: CreditRate | None, price: Decimal | None) -> str | None:
    """A month's credits as `POST /api/v1/me/plan` takes them (rounded up); None: free, or no rate."""
    return None if price is None or rate is None else str(rate.credits_to_charge(price))


def _json(body: list[PlanOfferOut]) -> bytes:
    return json.dumps(
        [b.model_dump(mode="json") for b in body], sort_keys=True, separators=(",", ":")
    ).encode()


@router.get("/me/roles", responses=responses(NotAuthenticated, AccountBlocked))
async def my_roles(request: Request, account: CurrentAccount, session: SessionDep) -> list[UsableRoleOut]:
    """The assistant roles a completion by this account accepts (as `metadata.role` or `X-Assistant-Role`):
    enabled ones with a model the plan may call. `default_model` is what a call naming only the role uses;
    when it is null the call must name one of `models`."""
    roles, offered = await service.roles_for(session, request.app.state.gateway, account)
    models = [m.id for m in offered]
    return [
        UsableRoleOut(id=r.id, name=r.name, default_model=default, models=models, tool=r.tool)
        for r, default in roles
    ]
