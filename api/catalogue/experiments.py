"""Experiments as the gateway uses them (docs/decisions/0059; on a model alias, 0062): the running ones, in
the catalogue snapshot, and the one rule that gives a user a variant.

A user's variant is a pure function of the experiment's id, the user's id and the variants' keys and
weights: no assignment is stored, none is read on the hot path, and the same user gets the same variant
on every call, in every process, for as long as the experiment's variants stay as they are (they cannot
be edited once created).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.catalogue.models import AssistantRoleVersion, Experiment, ExperimentVariant


@dataclass(frozen=True, slots=True)
class VariantSpec:
    key: str
    weight: int
    model_id: str | None  # None: the role's (or the version's) default model
    role_version: int | None  # None: the role's current content
    # The version's content when `role_version` is set: (system_prompt, default_model, default_params).
    content: tuple[str, str | None, dict] | None = None


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    id: uuid.UUID
    role_id: str | None  # the role it is on, or
    alias: str | None  # the model alias (every variant names a model)
    variants: tuple[VariantSpec, ...]  # by key

    def variant_for(self, user_id: uuid.UUID) -> VariantSpec:
        return self.variants[assign(self.id, user_id, [v.weight for v in self.variants])]


def assign(experiment_id: uuid.UUID, user_id: uuid.UUID, weights: list[int]) -> int:
    """The index of the user's variant: a point in [0, sum(weights)) from SHA-256 of the two ids, placed on
    the variants' cumulative weights. Uniform over users (the hash's 64 bits dwarf any total of weights)."""
    digest = hashlib.sha256(f"{experiment_id}:{user_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(weights)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    raise AssertionError("unreachable: the point is below the total")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Running:
    """The running experiments, by the role they are on and by the alias."""

    by_role: dict[str, ExperimentSpec]
    by_alias: dict[str, ExperimentSpec]


async def running(session: AsyncSession) -> Running:
    """The running experiments, with the content of the role versions their variants name."""
    experiments = (await session.scalars(select(Experiment).where(Experiment.status == "running"))).all()
    if not experiments:
        return Running({}, {})
    ids = [e.id for e in experiments]
    variants = (
        await session.scalars(
            select(ExperimentVariant)
            .where(ExperimentVariant.experiment_id.in_(ids))
            .order_by(ExperimentVariant.experiment_id, ExperimentVariant.key)
        )
    ).all()
    roles = {e.role_id for e in experiments if e.role_id is not None}
    versions = {
        (v.role_id, v.version): (v.system_prompt, v.default_model, dict(v.default_params or {}))
        for v in await session.scalars(
            select(AssistantRoleVersion).where(AssistantRoleVersion.role_id.in_(roles))
        )
    }
    by_experiment: dict[uuid.UUID, list[VariantSpec]] = {}
    role_of = {e.id: e.role_id for e in experiments}
    for v in variants:
        content = versions.get((role_of[v.experiment_id], v.role_version)) if v.role_version else None
        by_experiment.setdefault(v.experiment_id, []).append(
            VariantSpec(v.key, v.weight, v.model_id, v.role_version, content)
        )
    specs = [
        ExperimentSpec(e.id, e.role_id, e.alias, tuple(by_experiment[e.id]))
        for e in experiments
        if by_experiment.get(e.id)
    ]
    return Running(
        {e.role_id: e for e in specs if e.role_id is not None},
        {e.alias: e for e in specs if e.alias is not None},
    )
