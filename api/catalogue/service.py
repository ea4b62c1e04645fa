"""The catalogue as the gateway uses it: an immutable snapshot, reloaded from the database every few seconds.

Models, prices, providers, roles, plans and the credit rate. Reading them on every completion would cost
more than the call's own bookkeeping; a snapshot that is at most `catalogue_cache_seconds` old (and
reloaded at once in the process that changes it) does not. A call reserves and settles at the one rate
and price it started with.
"""

from __future__ import annotations

import asyncio
import json
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Plan
from api.billing.service import CreditRate, credit_rate
from api.cache import service as response_cache
from api.cache.service import CacheRules
from api.catalogue import experiments as experiments_
from api.catalogue import repository
from api.catalogue.experiments import ExperimentSpec
from api.catalogue.models import Provider
from api.core.crypto import Encryptor
from api.core.egress import Egress
from api.core.errors import AppError
from api.core.settings import Settings
from api.guardrails import service as guardrails
from api.guardrails.rules import Guardrails
from api.notifications import notify
from api.providers.base import ProviderSpec

MILLION = Decimal(1_000_000)


class ModelNotFound(AppError):
    status_code = 404
    code = "model_not_found"


class ModelNotInPlan(AppError):
    status_code = 403
    code = "model_not_in_plan"
    type = "permission_error"


def sealed_headers(headers: dict[str, str], encryptor: Encryptor) -> str | None:
    """Extra headers as stored: one JSON object, encrypted (None: no header)."""
    return encryptor.encrypt(json.dumps(headers, sort_keys=True)) if headers else None


def provider_headers(provider: Provider, encryptor: Encryptor) -> dict[str, str]:
    """The provider's extra headers, decrypted."""
    sealed = provider.extra_headers_encrypted
    return json.loads(encryptor.decrypt(sealed)) if sealed else {}


def provider_spec(provider: Provider, encryptor: Encryptor, egress: Egress) -> ProviderSpec:
    """The provider row as the gateway uses it, its key and headers decrypted."""
    return ProviderSpec(
        id=provider.id,
        kind=provider.kind,
        base_url=provider.base_url,
        api_key=encryptor.decrypt(provider.api_key_encrypted) if provider.api_key_encrypted else None,
        priority=provider.priority,
        timeout_seconds=provider.timeout_seconds,
        max_retries=provider.max_retries,
        extra_headers=tuple(sorted(provider_headers(provider, encryptor).items())),
        egress=egress,
    )


@dataclass(frozen=True, slots=True)
class RouteSpec:
    provider: ProviderSpec
    provider_model: str


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    display_name: str
    tier: str
    visible: bool
    enabled: bool
    context_length: int
    max_output_tokens: int
    default_params: dict[str, Any]
    sort_order: int
    created_at: datetime
    routes: tuple[RouteSpec, ...]  # enabled providers, in priority order
    # (effective_from, USD per 1M input tokens, USD per 1M output tokens), oldest first
    prices: tuple[tuple[datetime, Decimal, Decimal], ...]

    def price_at(self, at: datetime) -> tuple[Decimal, Decimal]:
        index = bisect_right([p[0] for p in self.prices], at) - 1
        if index < 0:
            return Decimal(0), Decimal(0)
        return self.prices[index][1], self.prices[index][2]

    def cost_usd(self, at: datetime, input_tokens: int, output_tokens: int) -> Decimal:
        price_in, price_out = self.price_at(at)
        return (Decimal(input_tokens) * price_in + Decimal(output_tokens) * price_out) / MILLION


class RoleNotFound(AppError):
    status_code = 404
    code = "role_not_found"


class ModelRequired(AppError):
    status_code = 400
    code = "model_required"


@dataclass(frozen=True, slots=True)
class RoleSpec:
    id: str
    name: str
    system_prompt: str
    default_model: str | None
    default_params: dict[str, Any]
    tool: str | None = None  # where the portal offers it (AssistantRole.tool)
    # The version of the role this snapshot holds: a call's `llm.call_succeeded` names it, so that feedback
    # on the call is counted by the role's version (docs/decisions/0054).
    version: int | None = None


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """A plan's limits (None: no limit) and the model tiers it may call."""

    code: str
    daily_requests: int | None
    tokens_per_day: int | None
    tokens_per_month: int | None
    max_chats: int | None
    max_messages_per_chat: int | None
    tiers: frozenset[str]
    name: str = ""
    public: bool = True
    price_monthly: Decimal | None = None

    @classmethod
    def of(cls, plan: Plan) -> PlanSpec:
        return cls(
            plan.code,
            plan.daily_requests,
            plan.tokens_per_day,
            plan.tokens_per_month,
            plan.max_chats,
            plan.max_messages_per_chat,
            plan.tiers,
            plan.name,
            plan.public,
            plan.price_monthly,
        )


@dataclass(frozen=True, slots=True)
class Catalogue:
    models: dict[str, ModelSpec]
    roles: dict[str, RoleSpec] = field(default_factory=dict)
    plans: dict[str, PlanSpec] = field(default_factory=dict)
    credit_rate: CreditRate | None = None
    # The balance_low notification fires when a charge takes a balance below this (None: the rule is off).
    balance_low_below: Decimal | None = None
    # The roles' and plans' guardrails, compiled (docs/decisions/0056): a call reads them here, not the DB.
    guardrails: Guardrails = field(default_factory=Guardrails)
    # The models' and roles' response cache rules and what a hit takes (docs/decisions/0057).
    cache: CacheRules = field(default_factory=CacheRules)
    # The running experiments by role id (docs/decisions/0059): a call picks its variant from these.
    experiments: dict[str, ExperimentSpec] = field(default_factory=dict)
    # The model aliases, each with the model it names, and the running experiments by alias (0062).
    aliases: dict[str, str] = field(default_factory=dict)
    alias_experiments: dict[str, ExperimentSpec] = field(default_factory=dict)

    def plan(self, code: str) -> PlanSpec | None:
        return self.plans.get(code)

    def model_named(self, name: str) -> str:
        """The model a name stands for: an alias's model (0062), or the name itself."""
        return self.aliases.get(name, name)

    def role(self, role_id: str) -> RoleSpec:
        try:
            return self.roles[role_id]
        except KeyError:
            raise RoleNotFound(f"assistant role {role_id!r} does not exist or is disabled") from None

    def listed_for(self, tiers: frozenset[str]) -> list[ModelSpec]:
        """What /v1/models shows a plan: visible, enabled, of a tier the plan allows."""
        return sorted(
            (m for m in self.models.values() if m.visible and m.enabled and m.tier in tiers),
            key=lambda m: (m.sort_order, m.id),
        )

    def aliases_for(self, tiers: frozenset[str]) -> list[tuple[str, ModelSpec]]:
        """What /v1/models shows a plan besides its models: each alias whose model the plan may call (a hidden
        model too: staff named the alias to be called), by name, with that model."""
        return [
            (alias, self.models[model_id])
            for alias, model_id in sorted(self.aliases.items())
            if self.callable_on(model_id, tiers)
        ]

    def offered(self, tiers: frozenset[str]) -> list[ModelSpec]:
        """What a plan may pick from: listed (`listed_for`) and served by a provider, so callable."""
        return [m for m in self.listed_for(tiers) if m.routes]

    def usable_roles(self, tiers: frozenset[str]) -> list[tuple[RoleSpec, str | None]]:
        """The roles a completion accepts on a plan, by name, each with the model a call naming only the role
        uses (its default model, when the plan may call it; else None: the caller names one of `offered`).
        A role is usable when it is enabled (`role`) and some model goes with it (`callable`): its default
        one, or any model the plan is offered."""
        offered = bool(self.offered(tiers))
        usable = []
        for role in sorted(self.roles.values(), key=lambda r: (r.name.casefold(), r.id)):
            default = role.default_model
            if default is not None and not self.callable_on(default, tiers):
                default = None
            if default is not None or offered:
                usable.append((role, default))
        return usable

    def callable_on(self, model_id: str, tiers: frozenset[str]) -> bool:
        """Whether `callable` accepts the model on these tiers: one rule, so the list and a call agree."""
        try:
            self.callable(model_id, tiers, plan="")
        except (ModelNotFound, ModelNotInPlan):
            return False
        return True

    def callable(self, model_id: str, tiers: frozenset[str], plan: str) -> ModelSpec:
        spec = self.models.get(model_id)
        if spec is None or not spec.enabled or not spec.routes:
            raise ModelNotFound(f"model {model_id!r} does not exist or is not available")
        if spec.tier not in tiers:
            raise ModelNotInPlan(
                f"model {model_id!r} is a {spec.tier} model: the {plan!r} plan does not include it"
            )
        return spec


async def load(session: AsyncSession, settings: Settings) -> Catalogue:
    encryptor, egress = Encryptor(settings), Egress.of(settings)
    providers = {
        p.id: provider_spec(p, encryptor, egress) for p in await repository.enabled_providers(session)
    }
    routes: dict[str, list[RouteSpec]] = {}
    for route in await repository.all_routes(session):
        if route.provider_id in providers:
            routes.setdefault(route.model_id, []).append(
                RouteSpec(providers[route.provider_id], route.provider_model)
            )
    prices: dict[str, list[tuple[datetime, Decimal, Decimal]]] = {}
    for price in await repository.all_prices(session):
        prices.setdefault(price.model_id, []).append(
            (price.effective_from, price.input_per_million, price.output_per_million)
        )
    models = {
        m.id: ModelSpec(
            id=m.id,
            display_name=m.display_name,
            tier=m.tier,
            visible=m.visible,
            enabled=m.enabled,
            context_length=m.context_length,
            max_output_tokens=m.max_output_tokens,
            default_params=dict(m.default_params or {}),
            sort_order=m.sort_order,
            created_at=m.created_at,
            routes=tuple(sorted(routes.get(m.id, []), key=lambda r: (r.provider.priority, r.provider.id))),
            prices=tuple(prices.get(m.id, [])),
        )
        for m in await repository.all_models(session)
    }
    versions = await repository.current_role_versions(session)
    roles = {
        r.id: RoleSpec(
            r.id,
            r.name,
            r.system_prompt,
            r.default_model,
            dict(r.default_params or {}),
            r.tool,
            versions.get(r.id),
        )
        for r in await repository.enabled_roles(session)
    }
    plans = {p.code: PlanSpec.of(p) for p in await repository.all_plans(session)}
    rate = await credit_rate(session)
    balance_low_below = await notify.balance_low_threshold(session)
    policies = await guardrails.load(session)
    cache = await response_cache.load(session)
    running = await experiments_.running(session)
    aliases = await repository.alias_targets(session)
    await session.commit()  # end the read
    return Catalogue(
        models, roles, plans, rate, balance_low_below, policies, cache, running.by_role, aliases,
        running.by_alias,
    )  # fmt: skip


class CatalogueCache:
    """The current snapshot; reloaded when older than the TTL or after `invalidate()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._snapshot: Catalogue | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._snapshot = None

    async def get(self, session: AsyncSession) -> Catalogue:
        fresh = time.monotonic() - self._loaded_at < self.settings.catalogue_cache_seconds
        if self._snapshot is not None and fresh:
            return self._snapshot
        async with self._lock:
            if (
                self._snapshot is None
                or time.monotonic() - self._loaded_at >= self.settings.catalogue_cache_seconds
            ):
                self._snapshot = await load(session, self.settings)
                self._loaded_at = time.monotonic()
            return self._snapshot


async def usage_totals(session: AsyncSession, matches: ColumnElement[bool]) -> dict[str, Any]:
    """Lifetime completions, failed calls, tokens, cost and users of the LLM calls that match (OLTP; the
    warehouse has them by day): a model's or a role's usage."""
    row = await repository.usage_totals(session, matches)
    return {
        "completions": row[0], "failed_calls": row[1], "input_tokens": int(row[2]),
        "output_tokens": int(row[3]), "cost_usd": str(Decimal(row[4])), "users": row[5],
    }  # fmt: skip


async def provider_exists(session: AsyncSession, provider_id: str) -> bool:
    return await repository.provider(session, provider_id) is not None
