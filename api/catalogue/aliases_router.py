"""`/api/v1/admin/model-aliases` (catalogue:write; analytics:read may list, as models): names clients may
pass as `model` for another model (docs/decisions/0062). Every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import aliases
from api.catalogue.aliases import ALIAS, AliasIn, AliasOut
from api.catalogue.errors import AliasInExperiment, AliasTaken, ModelDisabled, UnknownModel
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/admin/model-aliases", tags=["admin: models"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)
Alias = Annotated[str, Path(pattern=ALIAS)]


@router.get("", responses=ERRORS)
async def list_aliases(_staff: AnalyticsReader, session: SessionDep) -> list[AliasOut]:
    """Every alias, by name, with the model it names."""
    return await aliases.list_aliases(session)


@router.put("/{alias}", responses={**ERRORS, **responses(AliasTaken, UnknownModel, ModelDisabled)})
async def set_alias(
    staff: CatalogueWriter, session: SessionDep, alias: Alias, body: AliasIn, request: Request,
    audit_ctx: AuditCtx,
) -> AliasOut:  # fmt: skip
    """Create the alias, or point it at another model (an enabled one; never under a model's id)."""
    return await aliases.set_alias(
        session, staff, alias, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.delete(
    "/{alias}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERRORS, **responses(NotFound, AliasInExperiment)},
)
async def delete_alias(
    staff: CatalogueWriter, session: SessionDep, alias: Alias, request: Request, audit_ctx: AuditCtx
) -> None:
    """Only an alias that no draft, running or paused experiment holds."""
    await aliases.delete_alias(
        session, staff, alias, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )
