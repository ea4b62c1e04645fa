"""`/api/v1/admin/experiments` (catalogue:write; analytics:read may look): A/B tests on assistant roles
(docs/decisions/0059). Every change is audited; an illegal transition is a 409 with a stable code."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api.auth.deps import AnalyticsReader, AuditCtx, CatalogueWriter
from api.catalogue import experiments_admin as admin
from api.catalogue.aliases import ALIAS
from api.catalogue.errors import (
    IllegalTransition,
    ModelDisabled,
    RoleHasRunningExperiment,
    UnknownAlias,
    UnknownModel,
    UnknownRole,
    UnknownRoleVersion,
)
from api.catalogue.experiments_admin import ExperimentIn, ExperimentOut, WinnerIn
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/admin/experiments", tags=["admin: experiments"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
CHANGES = {**ERRORS, **responses(IllegalTransition, RoleHasRunningExperiment)}


@router.get("", responses=ERRORS)
async def list_experiments(
    _staff: AnalyticsReader,
    session: SessionDep,
    role_id: Annotated[str | None, Query(pattern=r"^[a-z0-9_-]{1,64}$")] = None,
    alias: Annotated[str | None, Query(pattern=ALIAS)] = None,
) -> list[ExperimentOut]:
    """Newest first; `role_id` keeps one role's, `alias` one model alias's (docs/decisions/0062)."""
    return await admin.list_experiments(session, role_id, alias)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        **ERRORS,
        **responses(UnknownRole, UnknownRoleVersion, UnknownAlias, UnknownModel, ModelDisabled),
    },
)
async def create_experiment(
    staff: CatalogueWriter, session: SessionDep, body: ExperimentIn, request: Request, audit_ctx: AuditCtx
) -> ExperimentOut:
    """A draft with its variants keyed A, B, … in the order given; nothing changes until it starts."""
    return await admin.create_experiment(
        session, staff, body, at=utcnow(), context=audit_ctx, cache=request.app.state.gateway.catalogue
    )


@router.get("/{experiment_id}", responses=ERRORS)
async def get_experiment(
    _staff: AnalyticsReader, session: SessionDep, experiment_id: uuid.UUID
) -> ExperimentOut:
    return await admin.get_experiment(session, experiment_id)


async def _transition(
    staff, session, experiment_id: uuid.UUID, action: str, request: Request, audit_ctx
) -> ExperimentOut:
    return await admin.transition(
        session, staff, experiment_id, action, at=utcnow(), context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )  # fmt: skip


@router.post("/{experiment_id}/start", responses={**CHANGES, **responses(UnknownModel, ModelDisabled)})
async def start_experiment(
    staff: CatalogueWriter, session: SessionDep, experiment_id: uuid.UUID, request: Request,
    audit_ctx: AuditCtx,
) -> ExperimentOut:  # fmt: skip
    """Start a draft, or resume a paused experiment: the role's calls get their users' variants. A variant
    whose model was disabled or deleted since is refused (422 `model_disabled` / `unknown_model`)."""
    return await _transition(staff, session, experiment_id, "start", request, audit_ctx)


@router.post("/{experiment_id}/pause", responses=CHANGES)
async def pause_experiment(
    staff: CatalogueWriter, session: SessionDep, experiment_id: uuid.UUID, request: Request,
    audit_ctx: AuditCtx,
) -> ExperimentOut:  # fmt: skip
    """The role's calls get its current content again until the experiment is resumed."""
    return await _transition(staff, session, experiment_id, "pause", request, audit_ctx)


@router.post("/{experiment_id}/stop", responses=CHANGES)
async def stop_experiment(
    staff: CatalogueWriter, session: SessionDep, experiment_id: uuid.UUID, request: Request,
    audit_ctx: AuditCtx,
) -> ExperimentOut:  # fmt: skip
    """For good: a stopped experiment cannot start again (a winner may still be picked)."""
    return await _transition(staff, session, experiment_id, "stop", request, audit_ctx)


@router.post("/{experiment_id}/winner", responses={**CHANGES, **responses(UnknownModel, ModelDisabled)})
async def pick_winner(
    staff: CatalogueWriter, session: SessionDep, experiment_id: uuid.UUID, body: WinnerIn, request: Request,
    audit_ctx: AuditCtx,
) -> ExperimentOut:  # fmt: skip
    """The variant's version and model become the role's new version (an alias's experiment: the alias
    names the variant's model); the experiment stops."""
    return await admin.pick_winner(
        session, staff, experiment_id, body.variant, at=utcnow(), context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )  # fmt: skip
