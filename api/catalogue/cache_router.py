"""`/api/v1/admin/cache` (catalogue:write; analytics:read may look; what a hit takes: settings:write): the
response cache's rules per model and role, what a hit takes, and clearing what it keeps (docs/gateway.md,
docs/decisions/0057). Every change is audited; a rule is in use from the next completion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter, SettingsWriter
from api.cache import service as response_cache
from api.catalogue import admin
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


class SharedModel(AppError):
    status_code = 422
    code = "cache_shared_model"


router = APIRouter(prefix="/api/v1/admin/cache", tags=["admin: response cache"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
Scope = Annotated[Literal["model", "role"], Path(description="whose cache: a model's or a role's")]
Target = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:/-]{1,128}$", description="the model's or role's id")]
Id = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ttl_seconds: Annotated[int, Field(ge=1, le=response_cache.MAX_TTL_SECONDS, description="kept this long")]
    shared: bool = Field(False, description="a role's answers serve every user (a model's never do)")


class RuleOut(BaseModel):
    scope: str
    target: str
    ttl_seconds: int
    shared: bool
    updated_at: datetime


class CacheSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hits_take: Literal["quota", "full", "none"] = Field(
        description="quota: the request and tokens, no credits; full: credits too; none: nothing"
    )


class CacheOut(BaseModel):
    hits_take: str
    rules: list[RuleOut]
    entries: dict[str, int]  # live answers kept, by model


class Cleared(BaseModel):
    removed: int


@router.get("", responses=ERRORS)
async def cache_overview(_staff: AnalyticsReader, session: SessionDep) -> CacheOut:
    """The rules, what a hit takes, and the answers kept by model."""
    return CacheOut(**await response_cache.overview(session, utcnow()))


@router.put("/rules/{scope}/{target}", responses={**ERRORS, **responses(SharedModel, Conflict)})
async def put_rule(
    staff: CatalogueWriter, session: SessionDep, scope: Scope, target: Target, body: RuleIn,
    request: Request, audit_ctx: AuditCtx,
) -> RuleOut:  # fmt: skip
    """Turn the model's or role's cache on, or change its TTL. `shared` is a role's only (422 on a model)."""
    if body.shared and scope == "model":
        raise SharedModel("only a role's answers may be shared across users")
    saved = await admin.save_cache_rule(
        session, staff, scope, target, body.ttl_seconds, body.shared, at=utcnow(), context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )  # fmt: skip
    return RuleOut(**saved)


@router.delete("/rules/{scope}/{target}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_rule(
    staff: CatalogueWriter, session: SessionDep, scope: Scope, target: Target, request: Request,
    audit_ctx: AuditCtx,
) -> None:  # fmt: skip
    """Turn the model's or role's cache off (what it kept stays until it expires or is cleared)."""
    cache = request.app.state.gateway.catalogue
    if not await response_cache.delete_rule(
        session, staff, scope, target, at=utcnow(), context=audit_ctx, after_commit=cache.invalidate
    ):
        raise NotFound(f"the {scope} {target!r} has no cache rule")


@router.put("/settings", responses=ERRORS)
async def put_settings(
    staff: SettingsWriter, session: SessionDep, body: CacheSettingsIn, request: Request, audit_ctx: AuditCtx
) -> CacheSettingsIn:
    """What a cache hit takes from the caller (default `quota`)."""
    cache = request.app.state.gateway.catalogue
    await response_cache.set_hits_take(
        session, staff, body.hits_take, at=utcnow(), context=audit_ctx, after_commit=cache.invalidate
    )
    return body


@router.delete("", responses=ERRORS)
async def clear_cache(
    staff: CatalogueWriter, session: SessionDep, audit_ctx: AuditCtx, model: Id = None, role: Id = None
) -> Cleared:
    """Remove the kept answers: all, or a model's (`?model=`) or a role's (`?role=`)."""
    removed = await response_cache.clear(
        session, staff, model=model, role=role, at=utcnow(), context=audit_ctx
    )
    return Cleared(removed=removed)
