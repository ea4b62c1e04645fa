"""`/api/v1/admin/roles` (catalogue:write; analytics:read may look): assistant roles (personas). Every
change is a new version with its author and time; versions can be listed, compared and rolled back to
(a rollback is itself a new version). Every change is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status

from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import admin
from api.catalogue.errors import RoleExists, UnknownModel
from api.catalogue.schemas import RoleFields, RoleIn, RoleOut, RollbackIn, VersionOut
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/admin/roles", tags=["admin: roles"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
RoleId = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$")]


@router.get("", responses=ERRORS)
async def list_roles(_staff: AnalyticsReader, session: SessionDep) -> list[RoleOut]:
    return await admin.list_roles(session)


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **responses(RoleExists, UnknownModel)}
)
async def create_role(
    staff: CatalogueWriter, session: SessionDep, body: RoleIn, request: Request, audit_ctx: AuditCtx
) -> RoleOut:
    return await admin.create_role(
        session, staff, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.put("/{role_id}", responses={**ERRORS, **responses(UnknownModel)})
async def edit_role(
    staff: CatalogueWriter, session: SessionDep, role_id: RoleId, body: RoleFields, request: Request,
    audit_ctx: AuditCtx,
) -> RoleOut:  # fmt: skip
    """Replace the role's content: a new version, in use from the next completion."""
    return await admin.edit_role(
        session,
        staff,
        role_id,
        body,
        at=utcnow(),
        context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )


@router.post("/{role_id}/rollback", responses={**ERRORS, **responses(UnknownModel)})
async def rollback_role(
    staff: CatalogueWriter, session: SessionDep, role_id: RoleId, body: RollbackIn, request: Request,
    audit_ctx: AuditCtx,
) -> RoleOut:  # fmt: skip
    """Make an earlier version current again (as a new version, so nothing is lost)."""
    return await admin.rollback_role(
        session, staff, role_id, body.version, at=utcnow(), context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )  # fmt: skip


@router.delete("/{role_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_role(
    staff: CatalogueWriter, session: SessionDep, role_id: RoleId, request: Request, audit_ctx: AuditCtx
) -> None:
    """The role goes (calls naming it get 404 `role_not_found`); its versions stay for the record."""
    await admin.delete_role(
        session, staff, role_id, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.get("/{role_id}/versions", responses=ERRORS)
async def role_versions(_staff: AnalyticsReader, session: SessionDep, role_id: RoleId) -> list[VersionOut]:
    return await admin.role_versions(session, role_id)


@router.get("/{role_id}/diff", responses=ERRORS)
async def role_diff(
    _staff: AnalyticsReader,
    session: SessionDep,
    role_id: RoleId,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """The fields that differ between two versions, and a unified diff of the system prompt."""
    return await admin.role_diff(session, role_id, from_version, to_version)


@router.get("/{role_id}/usage", responses=ERRORS)
async def role_usage(_staff: AnalyticsReader, session: SessionDep, role_id: RoleId) -> dict[str, Any]:
    """Lifetime completions, failed calls, tokens and users of the role (OLTP)."""
    return await admin.role_usage(session, role_id)
