"""All SQL of the catalogue: the admin side's models with their routes and price history, providers,
assistant roles and their versions; the rows the gateway's snapshot is built from; usage totals.
Repositories flush, never commit: the service owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Row, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Plan
from api.catalogue.models import (
    AssistantRole,
    AssistantRoleVersion,
    Experiment,
    LlmModel,
    ModelAlias,
    ModelPrice,
    ModelRoute,
    Provider,
)
from api.chats.models import Message
from api.events.models import UsageEvent
from api.events.types import LLM_CALLS, EventType

# ---------------------------------------------------------------- models


async def model(session: AsyncSession, model_id: str) -> LlmModel | None:
    return await session.get(LlmModel, model_id)


async def models_in_order(session: AsyncSession) -> list[LlmModel]:
    """Every model, hidden and disabled ones too, in display order."""
    return list((await session.scalars(select(LlmModel).order_by(LlmModel.sort_order, LlmModel.id))).all())


async def prices(session: AsyncSession, model_id: str) -> Sequence[ModelPrice]:
    """The model's price history, oldest first."""
    query = select(ModelPrice).where(ModelPrice.model_id == model_id).order_by(ModelPrice.effective_from)
    return (await session.scalars(query)).all()


async def current_price(session: AsyncSession, model_id: str) -> ModelPrice | None:
    return await session.scalar(
        select(ModelPrice)
        .where(ModelPrice.model_id == model_id)
        .order_by(ModelPrice.effective_from.desc())
        .limit(1)
    )


def add_price(
    session: AsyncSession,
    model_id: str,
    input_per_million: Decimal,
    output_per_million: Decimal,
    at: datetime,
) -> None:
    session.add(
        ModelPrice(
            model_id=model_id, input_per_million=input_per_million, output_per_million=output_per_million,
            effective_from=at,
        )
    )  # fmt: skip


async def routes(session: AsyncSession, model_id: str) -> Sequence[ModelRoute]:
    return (await session.scalars(select(ModelRoute).where(ModelRoute.model_id == model_id))).all()


async def replace_routes(session: AsyncSession, model_id: str, routes: Iterable[tuple[str, str]]) -> None:
    """The model's routes become these (provider id, the provider's name for the model)."""
    await session.execute(delete(ModelRoute).where(ModelRoute.model_id == model_id))
    session.add_all(
        ModelRoute(model_id=model_id, provider_id=provider_id, provider_model=provider_model)
        for provider_id, provider_model in routes
    )


async def add_model(session: AsyncSession, model: LlmModel) -> None:
    session.add(model)
    await session.flush()


async def model_referenced(session: AsyncSession, model_id: str) -> bool:
    """Does a role, an alias, a chat message or a call refer to the model?"""
    return bool(
        await session.scalar(
            select(
                exists().where(AssistantRole.default_model == model_id)
                | exists().where(ModelAlias.model_id == model_id)
                | exists().where(Message.model_id == model_id)
                | exists().where(UsageEvent.model_id == model_id)
            )
        )
    )


# ---------------------------------------------------------------- providers


async def provider(session: AsyncSession, provider_id: str) -> Provider | None:
    return await session.get(Provider, provider_id)


async def providers_in_order(session: AsyncSession) -> Sequence[Provider]:
    return (await session.scalars(select(Provider).order_by(Provider.priority, Provider.id))).all()


def add_provider(session: AsyncSession, provider: Provider) -> None:
    session.add(provider)


# ---------------------------------------------------------------- roles


async def role(session: AsyncSession, role_id: str) -> AssistantRole | None:
    return await session.get(AssistantRole, role_id)


async def roles_by_id(session: AsyncSession) -> Sequence[AssistantRole]:
    return (await session.scalars(select(AssistantRole).order_by(AssistantRole.id))).all()


def add_role(session: AsyncSession, role: AssistantRole) -> None:
    session.add(role)


async def role_versions(session: AsyncSession, role_id: str) -> list[AssistantRoleVersion]:
    """The role's versions, oldest first (they outlive the role)."""
    rows = await session.scalars(
        select(AssistantRoleVersion)
        .where(AssistantRoleVersion.role_id == role_id)
        .order_by(AssistantRoleVersion.version)
    )
    return list(rows.all())


async def latest_role_version(session: AsyncSession, role_id: str) -> int:
    """The role's newest version number (0: it never existed)."""
    return int(
        await session.scalar(
            select(func.coalesce(func.max(AssistantRoleVersion.version), 0)).where(
                AssistantRoleVersion.role_id == role_id
            )
        )
    )


def add_role_version(session: AsyncSession, version: AssistantRoleVersion) -> None:
    session.add(version)


# ---------------------------------------------------------------- model aliases (docs/decisions/0062)


async def alias(session: AsyncSession, name: str) -> ModelAlias | None:
    return await session.get(ModelAlias, name)


async def aliases_by_name(session: AsyncSession) -> Sequence[ModelAlias]:
    return (await session.scalars(select(ModelAlias).order_by(ModelAlias.alias))).all()


def add_alias(session: AsyncSession, row: ModelAlias) -> None:
    session.add(row)


async def alias_experiment(session: AsyncSession, name: str) -> Experiment | None:
    """An experiment on the alias that is not stopped (a draft, running or paused one holds it)."""
    return await session.scalar(
        select(Experiment).where(Experiment.alias == name, Experiment.status != "stopped").limit(1)
    )


# ---------------------------------------------------------------- shared


async def remove(session: AsyncSession, row: LlmModel | Provider | AssistantRole | ModelAlias) -> None:
    await session.delete(row)


# ---------------------------------------------------------------- the gateway's snapshot


async def enabled_providers(session: AsyncSession) -> Sequence[Provider]:
    return (await session.scalars(select(Provider).where(Provider.enabled.is_(True)))).all()


async def all_routes(session: AsyncSession) -> Sequence[ModelRoute]:
    return (await session.scalars(select(ModelRoute))).all()


async def all_prices(session: AsyncSession) -> Sequence[ModelPrice]:
    """Every model's prices, oldest first."""
    return (await session.scalars(select(ModelPrice).order_by(ModelPrice.effective_from))).all()


async def all_models(session: AsyncSession) -> Sequence[LlmModel]:
    return (await session.scalars(select(LlmModel))).all()


async def alias_targets(session: AsyncSession) -> dict[str, str]:
    """Every alias and the model it names."""
    return {a: m for a, m in await session.execute(select(ModelAlias.alias, ModelAlias.model_id))}


async def enabled_roles(session: AsyncSession) -> Sequence[AssistantRole]:
    return (await session.scalars(select(AssistantRole).where(AssistantRole.enabled.is_(True)))).all()


async def current_role_versions(session: AsyncSession) -> dict[str, int]:
    """Each role's newest version number: the version a role's row holds (every change writes both)."""
    rows = await session.execute(
        select(AssistantRoleVersion.role_id, func.max(AssistantRoleVersion.version)).group_by(
            AssistantRoleVersion.role_id
        )
    )
    return {role_id: int(version) for role_id, version in rows.all()}


async def all_plans(session: AsyncSession) -> Sequence[Plan]:
    return (await session.scalars(select(Plan))).all()


async def plan(session: AsyncSession, code: str) -> Plan | None:
    return await session.get(Plan, code)


# ---------------------------------------------------------------- usage


async def usage_totals(session: AsyncSession, matches: ColumnElement[bool]) -> Row:
    """(completions, failed calls, input tokens, output tokens, cost in USD, distinct users) of the LLM
    calls that match, and of no other event: a chat's `message.sent` names the call's model and role and
    carries the user's words' tokens, which are already in the call's tokens in; a refusal names them too
    but is no use of them (docs/decisions/0048-catalogue-usage-counts-llm-calls-only.md)."""
    return (
        await session.execute(
            select(
                func.count().filter(UsageEvent.type == EventType.LLM_CALL_SUCCEEDED.value),
                func.count().filter(UsageEvent.type == EventType.LLM_CALL_FAILED.value),
                func.coalesce(func.sum(UsageEvent.input_tokens), 0),
                func.coalesce(func.sum(UsageEvent.output_tokens), 0),
                func.coalesce(func.sum(UsageEvent.cost_usd), 0),
                func.count(func.distinct(UsageEvent.user_id)),
            ).where(matches, UsageEvent.type.in_([t.value for t in LLM_CALLS]))
        )
    ).one()
