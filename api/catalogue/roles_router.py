"""`/api/v1/admin/roles` (catalogue:write; analytics:read may look): assistant roles (personas). Every
change is a new version with its author and time; versions can be listed, compared and rolled back to
(a rollback is itself a new version). Every change is audited."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from api.audit import service as audit
from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import service as catalogue
from api.catalogue.models import AssistantRole, AssistantRoleVersion, LlmModel
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

router = APIRouter(prefix="/api/v1/admin/roles", tags=["admin: roles"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
RoleId = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$")]
CONTENT = ("name", "system_prompt", "default_model", "default_params", "enabled")


class RoleExists(Conflict):
    code = "role_exists"


class UnknownModel(AppError):
    status_code = 422
    code = "unknown_model"


class RoleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    system_prompt: Annotated[SafeStr, Field(min_length=1, max_length=20_000)]
    default_model: Annotated[str | None, Field(min_length=1, max_length=128)] = None  # None: no default
    default_params: dict[str, float | int] = Field(default_factory=dict, max_length=10)
    enabled: bool = True


class RoleIn(RoleFields):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]


class RoleOut(RoleFields):
    id: str
    version: int


class VersionOut(RoleFields):
    version: int
    author_email: str | None
    created_at: datetime


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[int, Field(ge=1)]


async def _versions(session, role_id: str) -> list[AssistantRoleVersion]:
    rows = await session.scalars(
        select(AssistantRoleVersion)
        .where(AssistantRoleVersion.role_id == role_id)
        .order_by(AssistantRoleVersion.version)
    )
    return list(rows.all())


async def _latest(session, role_id: str) -> int:
    return int(
        await session.scalar(
            select(func.coalesce(func.max(AssistantRoleVersion.version), 0)).where(
                AssistantRoleVersion.role_id == role_id
            )
        )
    )


async def _get(session, role_id: str) -> AssistantRole:
    role = await session.get(AssistantRole, role_id)
    if role is None:
        raise NotFound(f"no role {role_id!r}")
    return role


def _content(source) -> dict[str, Any]:
    return {name: getattr(source, name) for name in CONTENT}


async def _new_version(session, staff, role: AssistantRole, fields: RoleFields, at: datetime) -> int:
    """Apply `fields` to the role and keep them as its next version."""
    if fields.default_model and await session.get(LlmModel, fields.default_model) is None:
        raise UnknownModel(f"there is no model {fields.default_model!r}")
    for name in CONTENT:
        setattr(role, name, getattr(fields, name))
    version = await _latest(session, role.id) + 1
    session.add(
        AssistantRoleVersion(
            role_id=role.id, version=version, author_id=staff.id, author_email=staff.email, created_at=at,
            **fields.model_dump(include=set(CONTENT)),
        )
    )  # fmt: skip
    return version


async def _saved(
    session, request, staff, action, role, before, version, at, audit_ctx, reason=None
) -> RoleOut:
    await audit.write(
        session, staff, action, target_type="role", target_id=role.id, before=before,
        after={**_content(role), "version": version}, at=at, context=audit_ctx, reason=reason,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return RoleOut(id=role.id, version=version, **_content(role))


@router.get("", responses=ERRORS)
async def list_roles(_staff: AnalyticsReader, session: SessionDep) -> list[RoleOut]:
    roles = (await session.scalars(select(AssistantRole).order_by(AssistantRole.id))).all()
    return [RoleOut(id=r.id, version=await _latest(session, r.id), **_content(r)) for r in roles]


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **responses(RoleExists, UnknownModel)}
)
async def create_role(
    staff: CatalogueWriter, session: SessionDep, body: RoleIn, request: Request, audit_ctx: AuditCtx
) -> RoleOut:
    if await session.get(AssistantRole, body.id) is not None or await _latest(session, body.id):
        raise RoleExists(f"role {body.id!r} exists or existed (its versions are kept)")
    if body.default_model and await session.get(LlmModel, body.default_model) is None:
        raise UnknownModel(f"there is no model {body.default_model!r}")
    at = utcnow()
    role = AssistantRole(id=body.id, created_at=at, **body.model_dump(exclude={"id"}))
    session.add(role)
    version = await _new_version(session, staff, role, body, at)
    return await _saved(session, request, staff, "role.create", role, {}, version, at, audit_ctx)


@router.put("/{role_id}", responses={**ERRORS, **responses(UnknownModel)})
async def edit_role(
    staff: CatalogueWriter, session: SessionDep, role_id: RoleId, body: RoleFields, request: Request,
    audit_ctx: AuditCtx,
) -> RoleOut:  # fmt: skip
    """Replace the role's content: a new version, in use from the next completion."""
    role = await _get(session, role_id)
    before = _content(role)
    at = utcnow()
    version = await _new_version(session, staff, role, body, at)
    return await _saved(session, request, staff, "role.edit", role, before, version, at, audit_ctx)


@router.post("/{role_id}/rollback", responses={**ERRORS, **responses(UnknownModel)})
async def rollback_role(
    staff: CatalogueWriter, session: SessionDep, role_id: RoleId, body: RollbackIn, request: Request,
    audit_ctx: AuditCtx,
) -> RoleOut:  # fmt: skip
    """Make an earlier version current again (as a new version, so nothing is lost)."""
    role = await _get(session, role_id)
    target = next((v for v in await _versions(session, role_id) if v.version == body.version), None)
    if target is None:
        raise NotFound(f"role {role_id!r} has no version {body.version}")
    before = _content(role)
    at = utcnow()
    version = await _new_version(session, staff, role, RoleFields.model_validate(_content(target)), at)
    return await _saved(
        session,
        request,
        staff,
        "role.rollback",
        role,
        before,
        version,
        at,
        audit_ctx,
        reason=f"to version {body.version}",
    )


@router.delete("/{role_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_role(
    staff: CatalogueWriter, session: SessionDep, role_id: RoleId, request: Request, audit_ctx: AuditCtx
) -> None:
    """The role goes (calls naming it get 404 `role_not_found`); its versions stay for the record."""
    role = await _get(session, role_id)
    before = _content(role)
    await session.delete(role)
    await audit.write(
        session, staff, "role.delete", target_type="role", target_id=role_id, before=before, after={},
        at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()


@router.get("/{role_id}/versions", responses=ERRORS)
async def role_versions(_staff: AnalyticsReader, session: SessionDep, role_id: RoleId) -> list[VersionOut]:
    versions = await _versions(session, role_id)
    if not versions:
        raise NotFound(f"no role {role_id!r}")
    return [
        VersionOut(version=v.version, author_email=v.author_email, created_at=v.created_at, **_content(v))
        for v in versions
    ]


@router.get("/{role_id}/diff", responses=ERRORS)
async def role_diff(
    _staff: AnalyticsReader,
    session: SessionDep,
    role_id: RoleId,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """The fields that differ between two versions, and a unified diff of the system prompt."""
    versions = {v.version: v for v in await _versions(session, role_id)}
    missing = [n for n in (from_version, to_version) if n not in versions]
    if missing:
        raise NotFound(f"role {role_id!r} has no version {missing[0]}")
    old, new = _content(versions[from_version]), _content(versions[to_version])
    prompt = difflib.unified_diff(
        old["system_prompt"].splitlines(), new["system_prompt"].splitlines(),
        f"version {from_version}", f"version {to_version}", lineterm="",
    )  # fmt: skip
    return {
        "from": from_version,
        "to": to_version,
        "changed": {
            k: {"from": old[k], "to": new[k]} for k in CONTENT if old[k] != new[k] and k != "system_prompt"
        },
        "system_prompt_diff": "\n".join(prompt),
    }


@router.get("/{role_id}/usage", responses=ERRORS)
async def role_usage(_staff: AnalyticsReader, session: SessionDep, role_id: RoleId) -> dict[str, Any]:
    """Lifetime completions, failed calls, tokens and users of the role (OLTP)."""
    totals = await catalogue.usage_totals(session, UsageEvent.role_id == role_id)
    del totals["cost_usd"]  # a role's cost is its models' (by model in the warehouse)
    return {"role_id": role_id, **totals}
