"""What staff do to model aliases (docs/decisions/0062): a name clients pass as `model` for another model.
Set one (create, or repoint it to another model), delete one that no experiment still holds. An alias is
never a model's id (and a model is never created under an alias's name: `admin.create_model`). Every
change is audited and reloads the gateway's snapshot once committed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.catalogue import repository as repo
from api.catalogue.errors import AliasInExperiment, AliasTaken, ModelDisabled, UnknownModel
from api.catalogue.models import ModelAlias
from api.catalogue.service import CatalogueCache
from api.core.db import flush_or
from api.core.errors import Conflict, NotFound

# Like a model id, less the slash, and starting with a letter or a digit: an alias is a path segment of its
# admin routes (never `..`).
ALIAS = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MODEL_ID = r"^[A-Za-z0-9._:/-]{1,128}$"


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_id: Annotated[str, Field(pattern=MODEL_ID)]


class AliasOut(BaseModel):
    alias: str
    model_id: str
    created_at: datetime
    created_by: uuid.UUID | None
    updated_at: datetime
    updated_by: uuid.UUID | None


def _out(row: ModelAlias) -> AliasOut:
    return AliasOut(
        alias=row.alias, model_id=row.model_id, created_at=row.created_at, created_by=row.created_by,
        updated_at=row.updated_at, updated_by=row.updated_by,
    )  # fmt: skip


def _audited(row: ModelAlias | None) -> dict[str, Any]:
    return {} if row is None else {"model_id": row.model_id}


async def list_aliases(session: AsyncSession) -> list[AliasOut]:
    return [_out(row) for row in await repo.aliases_by_name(session)]


async def check_target(session: AsyncSession, model_id: str) -> None:
    """An alias, or an alias experiment's variant, names an enabled model of the catalogue."""
    model = await repo.model(session, model_id)
    if model is None:
        raise UnknownModel(f"there is no model {model_id!r}")
    if not model.enabled:
        raise ModelDisabled(f"model {model_id!r} is disabled")


def _point(row: ModelAlias, model_id: str, staff: Account, at: datetime) -> dict[str, Any]:
    """Point the alias at the model; what it was, as audited."""
    before = _audited(row)
    row.model_id, row.updated_at, row.updated_by = model_id, at, staff.id
    return before


async def set_alias(
    session: AsyncSession, staff: Account, alias: str, body: AliasIn, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> AliasOut:  # fmt: skip
    """Create the alias, or point it at another model."""
    if await repo.model(session, alias) is not None:
        raise AliasTaken(
            f"{alias!r} is a model's id: an alias needs a name of its own", params={"alias": alias}
        )
    await check_target(session, body.model_id)
    row = await repo.alias(session, alias, lock=True)  # a deletion at the same time goes first or waits
    if row is None:
        action, before = "model_alias.create", {}
        row = ModelAlias(
            alias=alias, model_id=body.model_id, created_at=at, created_by=staff.id, updated_at=at,
            updated_by=staff.id,
        )  # fmt: skip
        repo.add_alias(session, row)
    else:
        action, before = "model_alias.edit", _point(row, body.model_id, staff, at)
    await flush_or(  # created by another change at the same time
        session, Conflict(f"model alias {alias!r} was just set by another change: reload and try again")
    )
    out = _out(row)
    await audit.commit_audited(
        session, staff, action, target_type="model_alias", target_id=alias, before=before,
        after=_audited(row), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def repoint(
    session: AsyncSession, staff: Account, alias: str, model_id: str, *, at: datetime,
    context: AuditContext, reason: str,
) -> None:  # fmt: skip
    """An experiment's winner: the alias now names the variant's model, audited in the caller's transaction
    (which commits it with the experiment's stop)."""
    row = await repo.alias(session, alias, lock=True)
    if row is None:  # deleted after its experiment stopped
        raise NotFound(f"no model alias {alias!r}: set it again to pick this winner")
    before = _point(row, model_id, staff, at)
    await session.flush()
    await audit.write(
        session, staff, "model_alias.edit", target_type="model_alias", target_id=alias, before=before,
        after=_audited(row), at=at, context=context, reason=reason,
    )  # fmt: skip


async def delete_alias(
    session: AsyncSession, staff: Account, alias: str, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> None:  # fmt: skip
    """Only an alias no experiment holds (a draft, running or paused one): stop the experiment first."""
    row = await repo.alias(session, alias, lock=True)  # no experiment is created on it until this commits
    if row is None:
        raise NotFound(f"no model alias {alias!r}")
    if (experiment := await repo.alias_experiment(session, alias)) is not None:
        raise AliasInExperiment(
            f"alias {alias!r} is in experiment {experiment.id} ({experiment.status}): stop it first",
            params={"alias": alias},
        )
    before = _audited(row)
    await repo.remove(session, row)
    await audit.commit_audited(
        session, staff, "model_alias.delete", target_type="model_alias", target_id=alias, before=before,
        after={}, at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
