"""`/api/v1/admin/models` (catalogue:write; analytics:read may list): the model catalogue. A price change
is a new row of the price history (effective now), never an edit; a model still referenced (by a role, a
chat message or a call) cannot be deleted: hide it. Every change is audited."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, exists, select

from api.audit import service as audit
from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import service as catalogue
from api.catalogue.models import AssistantRole, LlmModel, ModelPrice, ModelRoute, Provider
from api.chats.models import Message
from api.core.deps import SessionDep
from api.core.errors import (
    AccountBlocked,
    AppError,
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    responses,
)
from api.core.types import utcnow
from api.core.validation import SafeStr
from api.events.models import UsageEvent

router = APIRouter(prefix="/api/v1/admin/models", tags=["admin: models"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
ModelId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]
Usd = Annotated[Decimal, Field(ge=0, le=10**6, decimal_places=6)]


class ModelExists(Conflict):
    code = "model_exists"


class ModelInUse(Conflict):
    code = "model_in_use"


class UnknownProvider(AppError):
    status_code = 422
    code = "unknown_provider"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
    provider_model: Annotated[SafeStr, Field(min_length=1, max_length=200)]


class ModelFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[SafeStr, Field(min_length=1, max_length=200)]
    tier: Annotated[str, Field(pattern=r"^(free|paid)$")] = "free"
    visible: bool = True
    enabled: bool = True
    context_length: Annotated[int, Field(ge=1, le=10**7)] = 8192
    max_output_tokens: Annotated[int, Field(ge=1, le=10**6)] = 4096
    default_params: dict[str, float | int] = Field(default_factory=dict, max_length=10)
    sort_order: Annotated[int, Field(ge=0, le=100_000)] = 100
    input_usd_per_million: Usd = Decimal(0)
    output_usd_per_million: Usd = Decimal(0)
    routes: list[Route] = Field(default_factory=list, max_length=20)


class ModelIn(ModelFields):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]


class ModelOut(ModelFields):
    id: str
    price_history: list[dict[str, Any]]
    created_at: datetime


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, Field(max_length=128)]] = Field(min_length=1, max_length=1000)


async def _out(session, model: LlmModel) -> ModelOut:
    prices = (
        await session.scalars(
            select(ModelPrice).where(ModelPrice.model_id == model.id).order_by(ModelPrice.effective_from)
        )
    ).all()
    routes = (await session.scalars(select(ModelRoute).where(ModelRoute.model_id == model.id))).all()
    current = prices[-1] if prices else None
    return ModelOut(
        id=model.id, display_name=model.display_name, tier=model.tier, visible=model.visible,
        enabled=model.enabled, context_length=model.context_length, max_output_tokens=model.max_output_tokens,
        default_params=dict(model.default_params or {}), sort_order=model.sort_order,
        input_usd_per_million=current.input_per_million if current else Decimal(0),
        output_usd_per_million=current.output_per_million if current else Decimal(0),
        routes=[Route(provider_id=r.provider_id, provider_model=r.provider_model) for r in routes],
        price_history=[
            {"effective_from": p.effective_from.isoformat(),
             "input_usd_per_million": str(p.input_per_million),
             "output_usd_per_million": str(p.output_per_million)}
            for p in prices
        ],
        created_at=model.created_at,
    )  # fmt: skip


async def _get(session, model_id: str) -> LlmModel:
    model = await session.get(LlmModel, model_id)
    if model is None:
        raise NotFound(f"no model {model_id!r}")
    return model


async def _check_routes(session, body: ModelFields) -> None:
    for provider in {r.provider_id for r in body.routes}:
        if await session.get(Provider, provider) is None:
            raise UnknownProvider(f"there is no provider {provider!r}")


def _set_fields(model: LlmModel, body: ModelFields) -> None:
    for name in ("display_name", "tier", "visible", "enabled", "context_length", "max_output_tokens",
                 "default_params", "sort_order"):  # fmt: skip
        setattr(model, name, getattr(body, name))


async def _set_routes_and_price(session, model: LlmModel, body: ModelFields, at: datetime) -> None:
    """Routes (replaced) and, when it differs from the current one, a new price row."""
    await session.execute(delete(ModelRoute).where(ModelRoute.model_id == model.id))
    session.add_all(
        ModelRoute(model_id=model.id, provider_id=r.provider_id, provider_model=r.provider_model)
        for r in body.routes
    )
    current = await session.scalar(
        select(ModelPrice)
        .where(ModelPrice.model_id == model.id)
        .order_by(ModelPrice.effective_from.desc())
        .limit(1)
    )
    price = (body.input_usd_per_million, body.output_usd_per_million)
    if current is None or (current.input_per_million, current.output_per_million) != price:
        session.add(
            ModelPrice(
                model_id=model.id, input_per_million=price[0], output_per_million=price[1], effective_from=at
            )
        )


@router.get("", responses=ERRORS)
async def list_models(_staff: AnalyticsReader, session: SessionDep) -> list[ModelOut]:
    """Every model, hidden and disabled ones too, in display order, with routes and price history."""
    models = (await session.scalars(select(LlmModel).order_by(LlmModel.sort_order, LlmModel.id))).all()
    return [await _out(session, m) for m in models]


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **responses(ModelExists, UnknownProvider)}
)
async def create_model(
    staff: CatalogueWriter, session: SessionDep, body: ModelIn, request: Request, audit_ctx: AuditCtx
) -> ModelOut:
    if await session.get(LlmModel, body.id) is not None:
        raise ModelExists(f"model {body.id!r} exists")
    await _check_routes(session, body)
    at = utcnow()
    model = LlmModel(id=body.id, created_at=at)
    _set_fields(model, body)
    session.add(model)
    await session.flush()
    await _set_routes_and_price(session, model, body, at)
    await session.flush()
    out = await _out(session, model)
    await audit.write(
        session, staff, "model.create", target_type="model", target_id=body.id, before={},
        after=out.model_dump(mode="json", exclude={"created_at", "price_history"}), at=at, context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return out


@router.put("/{model_id}", responses={**ERRORS, **responses(UnknownProvider)})
async def edit_model(
    staff: CatalogueWriter, session: SessionDep, model_id: ModelId, body: ModelFields, request: Request,
    audit_ctx: AuditCtx,
) -> ModelOut:  # fmt: skip
    """Replace the model's fields and routes (hide: `visible: false`); a new price starts now."""
    model = await _get(session, model_id)
    await _check_routes(session, body)
    at = utcnow()
    before = (await _out(session, model)).model_dump(mode="json", exclude={"created_at", "price_history"})
    _set_fields(model, body)
    await _set_routes_and_price(session, model, body, at)
    await session.flush()
    out = await _out(session, model)
    await audit.write(
        session, staff, "model.edit", target_type="model", target_id=model_id, before=before,
        after=out.model_dump(mode="json", exclude={"created_at", "price_history"}), at=at, context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return out


@router.post("/order", responses={**ERRORS, **responses(NotFound)})
async def reorder(
    staff: CatalogueWriter, session: SessionDep, body: OrderIn, request: Request, audit_ctx: AuditCtx
) -> list[str]:
    """Put these models first, in this order; the others follow in their present order (sort_order is
    renumbered 10, 20, …)."""
    models = list((await session.scalars(select(LlmModel).order_by(LlmModel.sort_order, LlmModel.id))).all())
    before = [m.id for m in models]
    by_id = {m.id: m for m in models}
    for model_id in body.ids:
        if model_id not in by_id:
            raise NotFound(f"no model {model_id!r}")
    first = list(dict.fromkeys(body.ids))
    for position, model_id in enumerate([*first, *(i for i in before if i not in first)]):
        by_id[model_id].sort_order = 10 * (position + 1)
    await session.flush()
    after = [
        m.id
        for m in (await session.scalars(select(LlmModel).order_by(LlmModel.sort_order, LlmModel.id))).all()
    ]
    await audit.write(
        session, staff, "model.reorder", target_type="model", target_id="*", before={"order": before},
        after={"order": after}, at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return after


@router.delete(
    "/{model_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**ERRORS, **responses(ModelInUse)}
)
async def delete_model(
    staff: CatalogueWriter, session: SessionDep, model_id: ModelId, request: Request, audit_ctx: AuditCtx
) -> None:
    """Only a model nothing refers to (no role, message or call): otherwise hide it."""
    model = await _get(session, model_id)
    referenced = await session.scalar(
        select(
            exists().where(AssistantRole.default_model == model_id)
            | exists().where(Message.model_id == model_id)
            | exists().where(UsageEvent.model_id == model_id)
        )
    )
    if referenced:
        raise ModelInUse(f"model {model_id!r} is referenced by roles, chats or calls: hide it instead")
    before = (await _out(session, model)).model_dump(mode="json", exclude={"created_at", "price_history"})
    await session.delete(model)
    await audit.write(
        session, staff, "model.delete", target_type="model", target_id=model_id, before=before, after={},
        at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()


@router.get("/{model_id}/usage", responses=ERRORS)
async def model_usage(_staff: AnalyticsReader, session: SessionDep, model_id: ModelId) -> dict[str, Any]:
    """Lifetime calls, failures, tokens, cost and users of the model (OLTP; the warehouse has it by day)."""
    await _get(session, model_id)
    return {"model_id": model_id, **await catalogue.usage_totals(session, UsageEvent.model_id == model_id)}
