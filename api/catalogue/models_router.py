"""`/api/v1/admin/models` (catalogue:write; analytics:read may list): the model catalogue. A price change
is a new row of the price history (effective now), never an edit; a model still referenced (by a role, a
chat message or a call) cannot be deleted: hide it. Every change is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status

from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import admin
from api.catalogue.errors import AliasTaken, ModelExists, ModelInUse, UnknownProvider
from api.catalogue.schemas import ModelFields, ModelIn, ModelOut, OrderIn
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/admin/models", tags=["admin: models"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
ModelId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]


@router.get("", responses=ERRORS)
async def list_models(_staff: AnalyticsReader, session: SessionDep) -> list[ModelOut]:
    """Every model, hidden and disabled ones too, in display order, with routes and price history."""
    return await admin.list_models(session)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, **responses(ModelExists, AliasTaken, UnknownProvider)},
)
async def create_model(
    staff: CatalogueWriter, session: SessionDep, body: ModelIn, request: Request, audit_ctx: AuditCtx
) -> ModelOut:
    return await admin.create_model(
        session, staff, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.put("/{model_id}", responses={**ERRORS, **responses(UnknownProvider)})
async def edit_model(
    staff: CatalogueWriter, session: SessionDep, model_id: ModelId, body: ModelFields, request: Request,
    audit_ctx: AuditCtx,
) -> ModelOut:  # fmt: skip
    """Replace the model's fields and routes (hide: `visible: false`); a new price starts now."""
    return await admin.edit_model(
        session,
        staff,
        model_id,
        body,
        at=utcnow(),
        context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )


@router.post("/order", responses={**ERRORS, **responses(NotFound)})
async def reorder(
    staff: CatalogueWriter, session: SessionDep, body: OrderIn, request: Request, audit_ctx: AuditCtx
) -> list[str]:
    """Put these models first, in this order; the others follow in their present order (sort_order is
    renumbered 10, 20, …)."""
    return await admin.reorder_models(
        session, staff, body.ids, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.delete(
    "/{model_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**ERRORS, **responses(ModelInUse)}
)
async def delete_model(
    staff: CatalogueWriter, session: SessionDep, model_id: ModelId, request: Request, audit_ctx: AuditCtx
) -> None:
    """Only a model nothing refers to (no role, alias, message or call): otherwise hide it."""
    await admin.delete_model(
        session, staff, model_id, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.get("/{model_id}/usage", responses=ERRORS)
async def model_usage(_staff: AnalyticsReader, session: SessionDep, model_id: ModelId) -> dict[str, Any]:
    """Lifetime calls, failures, tokens, cost and users of the model (OLTP; the warehouse has it by day)."""
    return await admin.model_usage(session, model_id)
