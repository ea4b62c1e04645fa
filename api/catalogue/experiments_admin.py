"""What staff do to experiments (docs/decisions/0059): create one on a role (2-5 variants, each a model
and/or a version of the role, with a weight of 1-1000) or on a model alias (0062: each variant a model),
start, pause, stop, pick a winner. Every change
is audited and reloads the gateway's snapshot once committed; an illegal transition is a 409 with a
stable code. The winner becomes the role's content through the roles' own edit (a new version, so the
history is kept), or the alias's model (the alias is repointed), in the same transaction as the
experiment's stop and both audit rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.catalogue import admin, aliases
from api.catalogue import repository as repo
from api.catalogue.aliases import ALIAS
from api.catalogue.errors import (
    IllegalTransition,
    RoleHasRunningExperiment,
    UnknownAlias,
    UnknownRole,
    UnknownRoleVersion,
)
from api.catalogue.models import AssistantRoleVersion, Experiment, ExperimentVariant
from api.catalogue.schemas import RoleFields
from api.catalogue.service import CatalogueCache
from api.core.db import flush_or
from api.core.errors import NotFound

KEYS = "ABCDE"


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_id: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    role_version: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    weight: Annotated[int, Field(ge=1, le=1000)] = 1

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.model_id is None and self.role_version is None:
            raise ValueError("a variant names a model_id, a role_version or both")
        return self


class ExperimentIn(BaseModel):
    """On a role or (docs/decisions/0062) on a model alias, whose variants are models only."""

    model_config = ConfigDict(extra="forbid")
    role_id: Annotated[str | None, Field(pattern=r"^[a-z0-9_-]{1,64}$")] = None
    alias: Annotated[str | None, Field(pattern=ALIAS)] = None
    variants: Annotated[list[VariantIn], Field(min_length=2, max_length=5)]  # keyed A, B, … in this order

    @model_validator(mode="after")
    def _role_or_alias(self) -> Self:
        if (self.role_id is None) == (self.alias is None):
            raise ValueError("an experiment is on a role_id or on an alias, not both")
        if self.alias is not None and any(v.model_id is None or v.role_version for v in self.variants):
            raise ValueError("an alias's variants each name a model_id and no role_version")
        return self


class VariantOut(BaseModel):
    key: str
    model_id: str | None
    role_version: int | None
    weight: int


class ExperimentOut(BaseModel):
    id: uuid.UUID
    role_id: str | None  # the role it is on, or
    alias: str | None  # the model alias
    status: Literal["draft", "running", "paused", "stopped"]
    winner: str | None
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    variants: list[VariantOut]


class WinnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variant: Annotated[str, Field(pattern=r"^[A-E]$")]


async def _variants(session: AsyncSession, experiment_id: uuid.UUID) -> list[ExperimentVariant]:
    return list(
        await session.scalars(
            select(ExperimentVariant)
            .where(ExperimentVariant.experiment_id == experiment_id)
            .order_by(ExperimentVariant.key)
        )
    )


async def _out(session: AsyncSession, e: Experiment) -> ExperimentOut:
    variants = [
        VariantOut(key=v.key, model_id=v.model_id, role_version=v.role_version, weight=v.weight)
        for v in await _variants(session, e.id)
    ]
    return ExperimentOut(
        id=e.id, role_id=e.role_id, alias=e.alias, status=e.status, winner=e.winner, created_at=e.created_at,
        started_at=e.started_at, stopped_at=e.stopped_at, variants=variants,
    )  # fmt: skip


def _audited(out: ExperimentOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude={"id", "created_at"})


async def _experiment(session: AsyncSession, experiment_id: uuid.UUID, *, lock: bool = False) -> Experiment:
    """The experiment; `lock` (a change): its row locked until the transaction ends (PostgreSQL), so that two
    changes at once (two winners, a start and a winner) are one after the other, the second seeing the
    first's result."""
    experiment = await session.get(Experiment, experiment_id, with_for_update=lock or None)
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id}")
    return experiment


async def list_experiments(
    session: AsyncSession, role_id: str | None, alias: str | None = None
) -> list[ExperimentOut]:
    query = select(Experiment).order_by(Experiment.created_at.desc(), Experiment.id)
    if role_id is not None:
        query = query.where(Experiment.role_id == role_id)
    if alias is not None:
        query = query.where(Experiment.alias == alias)
    return [await _out(session, e) for e in await session.scalars(query)]


async def get_experiment(session: AsyncSession, experiment_id: uuid.UUID) -> ExperimentOut:
    return await _out(session, await _experiment(session, experiment_id))


async def create_experiment(
    session: AsyncSession, staff: Account, body: ExperimentIn, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> ExperimentOut:  # fmt: skip
    """A draft: nothing changes for callers until it is started."""
    versions: set[int] = set()
    if body.alias is not None:
        if await repo.alias(session, body.alias, lock=True) is None:  # not deleted until this commits
            raise UnknownAlias(f"there is no model alias {body.alias!r}")
    elif await repo.role(session, body.role_id) is None:
        raise UnknownRole(f"there is no role {body.role_id!r}")
    else:
        versions = set(
            await session.scalars(
                select(AssistantRoleVersion.version).where(AssistantRoleVersion.role_id == body.role_id)
            )
        )
    for v in body.variants:
        if v.model_id is not None:
            await aliases.check_target(session, v.model_id)
        if v.role_version is not None and v.role_version not in versions:
            raise UnknownRoleVersion(f"role {body.role_id!r} has no version {v.role_version}")
    experiment = Experiment(
        id=uuid.uuid4(), role_id=body.role_id, alias=body.alias, status="draft", created_by=staff.id,
        created_at=at,
    )  # fmt: skip
    session.add(experiment)
    await session.flush()
    session.add_all(
        ExperimentVariant(experiment_id=experiment.id, key=key, **v.model_dump())
        for key, v in zip(KEYS, body.variants, strict=False)
    )
    await session.flush()
    out = await _out(session, experiment)
    await audit.commit_audited(
        session, staff, "experiment.create", target_type="experiment", target_id=str(experiment.id),
        before={}, after=_audited(out), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


def _on(experiment: Experiment) -> str:
    """What the experiment is on, for a message."""
    return f"alias {experiment.alias!r}" if experiment.alias is not None else f"role {experiment.role_id!r}"


# What each action may follow: start also resumes a paused experiment.
ALLOWED = {"start": {"draft", "paused"}, "pause": {"running"}, "stop": {"draft", "running", "paused"}}
RESULT = {"start": "running", "pause": "paused", "stop": "stopped"}


async def transition(
    session: AsyncSession, staff: Account, experiment_id: uuid.UUID, action: str, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> ExperimentOut:  # fmt: skip
    experiment = await _experiment(session, experiment_id, lock=True)
    if experiment.status not in ALLOWED[action]:
        raise IllegalTransition(f"a {experiment.status} experiment cannot be {action}ed")
    before = _audited(await _out(session, experiment))
    on = _on(experiment)
    if action == "start":
        same = (
            Experiment.alias == experiment.alias
            if experiment.alias is not None
            else Experiment.role_id == experiment.role_id
        )
        running = await session.scalar(select(Experiment.id).where(same, Experiment.status == "running"))
        if running is not None:
            raise RoleHasRunningExperiment(f"{on} already runs experiment {running}")
        for variant in await _variants(session, experiment.id):  # disabled or deleted since its creation?
            if variant.model_id is not None:
                await aliases.check_target(session, variant.model_id)
        experiment.started_at = experiment.started_at or at
    experiment.status = RESULT[action]
    if action == "stop":
        experiment.stopped_at = at
    # The unique index settles a race between two starts.
    await flush_or(session, RoleHasRunningExperiment(f"{on} already runs an experiment"))
    out = await _out(session, experiment)
    await audit.commit_audited(
        session, staff, f"experiment.{action}", target_type="experiment", target_id=str(experiment.id),
        before=before, after=_audited(out), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def pick_winner(
    session: AsyncSession, staff: Account, experiment_id: uuid.UUID, key: str, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> ExperimentOut:  # fmt: skip
    """The variant's version and model become the role's content, as a new version of the role (the roles'
    own edit, audited as `role.edit`), or, for an alias's experiment, the alias names the variant's model
    (audited as `model_alias.edit`); and the experiment stops with its winner (audited too)."""
    experiment = await _experiment(session, experiment_id, lock=True)
    if experiment.winner is not None:
        raise IllegalTransition(f"experiment {experiment_id} already has its winner, {experiment.winner}")
    variant = next((v for v in await _variants(session, experiment.id) if v.key == key), None)
    if variant is None:
        raise NotFound(f"experiment {experiment_id} has no variant {key}")
    if experiment.alias is not None:
        return await _alias_winner(session, staff, experiment, variant, at=at, context=context, cache=cache)
    role = await repo.role(session, experiment.role_id)
    if role is None:  # pragma: no cover (the experiment goes with its role: ON DELETE CASCADE)
        raise NotFound(f"no role {experiment.role_id!r}")
    content = admin.role_content(role)
    if variant.role_version is not None:
        source = next(
            v for v in await repo.role_versions(session, role.id) if v.version == variant.role_version
        )
        content = {**admin.role_content(source), "enabled": role.enabled, "tool": role.tool}
    if variant.model_id is not None:
        content["default_model"] = variant.model_id
    out = await _won(session, staff, experiment, key, at=at, context=context)
    await admin.save_role(
        session, staff, "role.edit", role, admin.role_content(role), RoleFields.model_validate(content),
        at=at, context=context, cache=cache, reason=f"experiment {experiment.id}: variant {key} won",
    )  # fmt: skip
    return out


async def _won(
    session: AsyncSession, staff: Account, experiment: Experiment, key: str, *, at: datetime,
    context: AuditContext,
) -> ExperimentOut:  # fmt: skip
    """The experiment stops with its winner, audited as `experiment.win` (the caller commits)."""
    before = _audited(await _out(session, experiment))
    experiment.status, experiment.winner = "stopped", key
    experiment.stopped_at = experiment.stopped_at or at
    out = await _out(session, experiment)
    await audit.write(
        session, staff, "experiment.win", target_type="experiment", target_id=str(experiment.id),
        before=before, after=_audited(out), at=at, context=context,
    )  # fmt: skip
    return out


async def _alias_winner(
    session: AsyncSession, staff: Account, experiment: Experiment, variant: ExperimentVariant, *,
    at: datetime, context: AuditContext, cache: CatalogueCache,
) -> ExperimentOut:  # fmt: skip
    """The alias's default becomes the variant's model, in the transaction of the experiment's stop."""
    await aliases.check_target(session, variant.model_id)
    await aliases.repoint(
        session, staff, experiment.alias, variant.model_id, at=at, context=context,
        reason=f"experiment {experiment.id}: variant {variant.key} won",
    )  # fmt: skip
    out = await _won(session, staff, experiment, variant.key, at=at, context=context)
    await session.commit()
    cache.invalidate()
    return out
