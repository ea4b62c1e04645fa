"""`/api/v1/admin/settings` and `/api/v1/admin/plans`: the credit rate and currency, whether registration
is open, the default plan; plans and their limits (settings:write to change, users:read to list).
Every change is audited; the gateway's catalogue snapshot in this process is reloaded at once (other
processes within `AIADMIN_CATALOGUE_CACHE_SECONDS`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from api.accounts.errors import UnknownPlan
from api.auth.deps import AuditCtx, SettingsWriter, UsersReader
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.system import service
from api.system.errors import PlanExists, PlanInUse
from api.system.schemas import PlanFields, PlanIn, PlanOut, SettingsIn, SettingsOut

router = APIRouter(prefix="/api/v1/admin", tags=["admin: plans and settings"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked)
PlanCode = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,32}$")]


@router.get("/settings", responses=ERRORS)
async def read_settings(_staff: SettingsWriter, session: SessionDep) -> SettingsOut:
    return await service.read_settings(session)


@router.patch("/settings", responses={**ERRORS, **responses(UnknownPlan)})
async def change_settings(
    staff: SettingsWriter, session: SessionDep, body: SettingsIn, request: Request, audit_ctx: AuditCtx
) -> SettingsOut:
    """Change any of the settings given; the others stay."""
    return await service.change_settings(
        session, staff, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.get("/plans", responses=ERRORS)
async def list_plans(_staff: UsersReader, session: SessionDep) -> list[PlanOut]:
    return await service.list_plans(session)


@router.post("/plans", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **responses(PlanExists)})
async def create_plan(
    staff: SettingsWriter, session: SessionDep, body: PlanIn, request: Request, audit_ctx: AuditCtx
) -> PlanOut:
    return await service.create_plan(
        session, staff, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.put("/plans/{code}", responses={**ERRORS, **responses(NotFound)})
async def update_plan(
    staff: SettingsWriter, session: SessionDep, code: PlanCode, body: PlanFields, request: Request,
    audit_ctx: AuditCtx,
) -> PlanOut:  # fmt: skip
    """Replace the plan's name, tiers and limits (null: no limit); accounts on it get them at once."""
    return await service.update_plan(
        session, staff, code, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.delete(
    "/plans/{code}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERRORS, **responses(NotFound, PlanInUse)},
)
async def delete_plan(
    staff: SettingsWriter, session: SessionDep, code: PlanCode, request: Request, audit_ctx: AuditCtx
) -> None:
    """Refused while an account is on it or it is the default plan: move them first."""
    await service.delete_plan(
        session, staff, code, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )
