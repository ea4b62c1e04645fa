"""What staff do to the catalogue: models (a price change is a new row of the price history, effective now;
a model still referenced cannot be deleted), providers (keys and extra headers write-only: encrypted at rest,
shown masked; a base URL on a refused network and a header that no request may carry are 400s),
assistant roles (every change a new version; a rollback is a new version too).

Every change is audited and commits with its audit row; then the gateway's snapshot in this process is
reloaded (`audit.commit_audited(..., after_commit=cache.invalidate)`). The snapshot itself, as the gateway
reads it, is api/catalogue/service.py.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.cache import service as response_cache
from api.catalogue import repository as repo
from api.catalogue.errors import (
    AliasTaken,
    InvalidHeader,
    ModelExists,
    ModelInUse,
    ProviderExists,
    RoleExists,
    UnknownModel,
    UnknownProvider,
)
from api.catalogue.models import AssistantRole, AssistantRoleVersion, LlmModel, Provider
from api.catalogue.schemas import (
    ROLE_CONTENT,
    KeyIn,
    ModelFields,
    ModelIn,
    ModelOut,
    ProviderFields,
    ProviderIn,
    ProviderOut,
    RoleFields,
    RoleIn,
    RoleOut,
    Route,
    TestOut,
    VersionOut,
)
from api.catalogue.service import (
    CatalogueCache,
    provider_headers,
    provider_spec,
    sealed_headers,
    usage_totals,
)
from api.core.crypto import Encryptor
from api.core.egress import Egress
from api.core.errors import NotFound
from api.core.settings import Settings
from api.core.types import utcnow
from api.events.models import UsageEvent
from api.guardrails import service as guardrails
from api.providers.base import CallParams, ChatMessage, ProviderError, header_problem
from api.providers.pool import ProviderPool

MODEL_FIELDS = ("display_name", "tier", "visible", "enabled", "context_length", "max_output_tokens",
                "default_params", "sort_order")  # fmt: skip

# ---------------------------------------------------------------- models


async def model_out(session: AsyncSession, model: LlmModel) -> ModelOut:
    prices = await repo.prices(session, model.id)
    routes = await repo.routes(session, model.id)
    current = prices[-1] if prices else None
    return ModelOut(
        id=model.id, display_name=model.display_name, tier=model.tier, visible=model.visible,
        enabled=model.enabled, context_length=model.context_length, max_output_tokens=model.max_output_tokens,
        default_params=dict(model.default_params or {}), sort_order=model.sort_order,
        input_usd_per_million=current.input_per_million if current else Decimal(0),
        output_usd_per_million=current.output_per_million if current else Decimal(0),
        routes=[Route(provider_id=r.provider_id, provider_model=r.provider_model) for r in routes],
        price_history=[
            {"effective_from": p.effective_from.isoformat(),
             "input_usd_per_million": str(p.input_per_million),
             "output_usd_per_million": str(p.output_per_million)}
            for p in prices
        ],
        created_at=model.created_at,
    )  # fmt: skip


def _audited(out: ModelOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude={"created_at", "price_history"})


async def _model(session: AsyncSession, model_id: str) -> LlmModel:
    model = await repo.model(session, model_id)
    if model is None:
        raise NotFound(f"no model {model_id!r}")
    return model


async def _check_routes(session: AsyncSession, body: ModelFields) -> None:
    for provider in {r.provider_id for r in body.routes}:
        if await repo.provider(session, provider) is None:
            raise UnknownProvider(f"there is no provider {provider!r}")


async def _set_routes_and_price(
    session: AsyncSession, model: LlmModel, body: ModelFields, at: datetime
) -> None:
    """Routes (replaced) and, when it differs from the current one, a new price row."""
    await repo.replace_routes(session, model.id, ((r.provider_id, r.provider_model) for r in body.routes))
    current = await repo.current_price(session, model.id)
    price = (body.input_usd_per_million, body.output_usd_per_million)
    if current is None or (current.input_per_million, current.output_per_million) != price:
        repo.add_price(session, model.id, price[0], price[1], at)


async def list_models(session: AsyncSession) -> list[ModelOut]:
    """Every model, hidden and disabled ones too, in display order, with routes and price history."""
    return [await model_out(session, m) for m in await repo.models_in_order(session)]


async def create_model(
    session: AsyncSession, staff: Account, body: ModelIn, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> ModelOut:  # fmt: skip
    if await repo.model(session, body.id) is not None:
        raise ModelExists(f"model {body.id!r} exists")
    if await repo.alias(session, body.id) is not None:  # a name means one thing (docs/decisions/0062)
        raise AliasTaken(
            f"{body.id!r} is a model alias: a model needs a name of its own", params={"alias": body.id}
        )
    await _check_routes(session, body)
    model = LlmModel(id=body.id, created_at=at, **{name: getattr(body, name) for name in MODEL_FIELDS})
    await repo.add_model(session, model)
    await _set_routes_and_price(session, model, body, at)
    await session.flush()
    out = await model_out(session, model)
    await audit.commit_audited(
        session, staff, "model.create", target_type="model", target_id=body.id, before={},
        after=_audited(out), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def edit_model(
    session: AsyncSession, staff: Account, model_id: str, body: ModelFields, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> ModelOut:  # fmt: skip
    """Replace the model's fields and routes (hide: `visible: false`); a new price starts now."""
    model = await _model(session, model_id)
    await _check_routes(session, body)
    before = _audited(await model_out(session, model))
    for name in MODEL_FIELDS:
        setattr(model, name, getattr(body, name))
    await _set_routes_and_price(session, model, body, at)
    await session.flush()
    out = await model_out(session, model)
    await audit.commit_audited(
        session, staff, "model.edit", target_type="model", target_id=model_id, before=before,
        after=_audited(out), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def reorder_models(
    session: AsyncSession, staff: Account, ids: list[str], *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> list[str]:  # fmt: skip
    """Put these models first, in this order; the others follow in their present order (sort_order is
    renumbered 10, 20, …). The new order."""
    models = await repo.models_in_order(session)
    before = [m.id for m in models]
    by_id = {m.id: m for m in models}
    for model_id in ids:
        if model_id not in by_id:
            raise NotFound(f"no model {model_id!r}")
    first = list(dict.fromkeys(ids))
    for position, model_id in enumerate([*first, *(i for i in before if i not in first)]):
        by_id[model_id].sort_order = 10 * (position + 1)
    await session.flush()
    after = [m.id for m in await repo.models_in_order(session)]
    await audit.commit_audited(
        session, staff, "model.reorder", target_type="model", target_id="*", before={"order": before},
        after={"order": after}, at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return after


async def delete_model(
    session: AsyncSession, staff: Account, model_id: str, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> None:  # fmt: skip
    """Only a model nothing refers to (no role, message or call): otherwise hide it."""
    model = await _model(session, model_id)
    if await repo.model_referenced(session, model_id):
        raise ModelInUse(
            f"model {model_id!r} is referenced by roles, aliases, chats or calls: hide it instead",
            params={"model": model_id},
        )
    before = _audited(await model_out(session, model))
    try:
        await repo.remove(session, model)
        await audit.commit_audited(
            session, staff, "model.delete", target_type="model", target_id=model_id, before=before,
            after={}, at=at, context=context, after_commit=cache.invalidate,
        )  # fmt: skip
    except IntegrityError:  # a role or an alias came to name it after the check, before the commit
        await session.rollback()
        raise ModelInUse(
            f"model {model_id!r} was just given a role or an alias: hide it instead",
            params={"model": model_id},
        ) from None


async def model_usage(session: AsyncSession, model_id: str) -> dict[str, Any]:
    """Lifetime calls, failures, tokens, cost and users of the model (OLTP; the warehouse has it by day)."""
    await _model(session, model_id)
    return {"model_id": model_id, **await usage_totals(session, UsageEvent.model_id == model_id)}


# ---------------------------------------------------------------- providers


def mask(secret: str | None) -> str | None:
    """Enough to tell two keys apart, never enough to use one."""
    if not secret:
        return None
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) >= 12 else "…"


def provider_out(provider: Provider, encryptor: Encryptor) -> ProviderOut:
    key = encryptor.decrypt(provider.api_key_encrypted) if provider.api_key_encrypted else None
    return ProviderOut(
        id=provider.id,
        display_name=provider.display_name,
        kind=provider.kind,
        base_url=provider.base_url,
        priority=provider.priority,
        timeout_seconds=provider.timeout_seconds,
        max_retries=provider.max_retries,
        enabled=provider.enabled,
        api_key=mask(key),
        extra_headers={
            name: mask(value) or "" for name, value in provider_headers(provider, encryptor).items()
        },
        created_at=provider.created_at,
    )


def _shown(out: ProviderOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude={"created_at"})


async def _provider(session: AsyncSession, provider_id: str) -> Provider:
    provider = await repo.provider(session, provider_id)
    if provider is None:
        raise NotFound(f"no provider {provider_id!r}")
    return provider


async def _check_provider(settings: Settings, body: ProviderFields, *, url_changed: bool = True) -> None:
    """Refuse what no call could use safely: headers that would split the request, an address on a
    network the server must not call on an admin's word (the cloud metadata service, loopback, LAN).
    An unchanged address is not looked up again (as alert webhooks): a provider saved before the rule can
    still be edited or disabled, and every call checks the address it connects to anyway."""
    if problem := header_problem(body.extra_headers.items()):
        raise InvalidHeader(f"extra_headers: {problem}")
    if body.base_url and url_changed:
        await Egress.of(settings).check_url(body.base_url, field="base_url")


async def list_providers(session: AsyncSession, settings: Settings) -> list[ProviderOut]:
    encryptor = Encryptor(settings)
    return [provider_out(p, encryptor) for p in await repo.providers_in_order(session)]


async def add_provider(
    session: AsyncSession, settings: Settings, staff: Account, body: ProviderIn, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> ProviderOut:  # fmt: skip
    if await repo.provider(session, body.id) is not None:
        raise ProviderExists(f"provider {body.id!r} exists")
    await _check_provider(settings, body)
    encryptor = Encryptor(settings)
    provider = Provider(
        **body.model_dump(exclude={"api_key", "extra_headers"}),
        api_key_encrypted=encryptor.encrypt(body.api_key) if body.api_key else None,
        extra_headers_encrypted=sealed_headers(body.extra_headers, encryptor),
        created_at=at,
    )
    repo.add_provider(session, provider)
    out = provider_out(provider, encryptor)
    await audit.commit_audited(
        session, staff, "provider.add", target_type="provider", target_id=body.id, before={},
        after=_shown(out), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def edit_provider(
    session: AsyncSession, settings: Settings, staff: Account, provider_id: str, body: ProviderFields, *,
    at: datetime, context: AuditContext, cache: CatalogueCache,
) -> ProviderOut:  # fmt: skip
    """Replace everything but the key (`enabled: false` disables it: its models fall back to the next)."""
    encryptor = Encryptor(settings)
    provider = await _provider(session, provider_id)
    await _check_provider(settings, body, url_changed=body.base_url != provider.base_url)
    before = _shown(provider_out(provider, encryptor))
    for name, value in body.model_dump(exclude={"extra_headers"}).items():
        setattr(provider, name, value)
    provider.extra_headers_encrypted = sealed_headers(body.extra_headers, encryptor)
    out = provider_out(provider, encryptor)
    await audit.commit_audited(
        session, staff, "provider.edit", target_type="provider", target_id=provider_id, before=before,
        after=_shown(out), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def rotate_key(
    session: AsyncSession, settings: Settings, staff: Account, provider_id: str, body: KeyIn, *,
    at: datetime, context: AuditContext, cache: CatalogueCache,
) -> ProviderOut:  # fmt: skip
    """Store a new key (encrypted); the next call uses it, on a fresh connection pool."""
    encryptor = Encryptor(settings)
    provider = await _provider(session, provider_id)
    before = provider_out(provider, encryptor).api_key
    provider.api_key_encrypted = encryptor.encrypt(body.api_key)
    out = provider_out(provider, encryptor)
    await audit.commit_audited(
        session, staff, "provider.rotate_key", target_type="provider", target_id=provider_id,
        before={"api_key": before}, after={"api_key": out.api_key}, at=at, context=context,
        after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def test_provider(
    session: AsyncSession, settings: Settings, staff: Account, provider_id: str, model: str | None, *,
    context: AuditContext, cache: CatalogueCache,
) -> TestOut:  # fmt: skip
    """One cheap call (one output token) to the provider, enabled or not: its health and latency. The test
    is audited (at its end); nothing in the catalogue changes, so the snapshot stays."""
    provider = await _provider(session, provider_id)
    encryptor = Encryptor(settings)
    catalogue = await cache.get(session)
    routed = [
        r.provider_model for m in catalogue.models.values() for r in m.routes if r.provider.id == provider_id
    ]
    model = model or (routed[0] if routed else "mock-small")
    spec = replace(provider_spec(provider, encryptor, Egress.of(settings)), max_retries=0)
    pool = ProviderPool()
    began = time.perf_counter()
    try:
        await pool.adapter(spec).complete(model, [ChatMessage("user", "ping")], CallParams(max_tokens=1))
        result = TestOut(ok=True, latency_ms=round((time.perf_counter() - began) * 1000, 1), model=model)
    except (ProviderError, TimeoutError) as exc:
        result = TestOut(
            ok=False, latency_ms=round((time.perf_counter() - began) * 1000, 1), model=model,
            error=getattr(exc, "code", "provider_timeout"),
        )  # fmt: skip
    finally:
        await pool.aclose()
    await audit.commit_audited(
        session, staff, "provider.test", target_type="provider", target_id=provider_id, before={},
        after=result.model_dump(mode="json"), at=utcnow(), context=context,
    )  # fmt: skip
    return result


# ---------------------------------------------------------------- roles


def role_content(source: AssistantRole | AssistantRoleVersion | RoleFields) -> dict[str, Any]:
    return {name: getattr(source, name) for name in ROLE_CONTENT}


async def _role(session: AsyncSession, role_id: str) -> AssistantRole:
    role = await repo.role(session, role_id)
    if role is None:
        raise NotFound(f"no role {role_id!r}")
    return role


async def _check_model(session: AsyncSession, fields: RoleFields) -> None:
    if fields.default_model and await repo.model(session, fields.default_model) is None:
        raise UnknownModel(f"there is no model {fields.default_model!r}")


async def _new_version(
    session: AsyncSession, staff: Account, role: AssistantRole, fields: RoleFields, at: datetime
) -> int:
    """Apply `fields` to the role and keep them as its next version."""
    await _check_model(session, fields)
    for name in ROLE_CONTENT:
        setattr(role, name, getattr(fields, name))
    version = await repo.latest_role_version(session, role.id) + 1
    repo.add_role_version(
        session,
        AssistantRoleVersion(
            role_id=role.id, version=version, author_id=staff.id, author_email=staff.email, created_at=at,
            **fields.model_dump(include=set(ROLE_CONTENT)),
        ),
    )  # fmt: skip
    return version


async def save_role(
    session: AsyncSession, staff: Account, action: str, role: AssistantRole, before: dict[str, Any],
    fields: RoleFields, *, at: datetime, context: AuditContext, cache: CatalogueCache,
    reason: str | None = None,
) -> RoleOut:  # fmt: skip
    """Make `fields` the role's next version, audited; the snapshot reloads once it is committed."""
    version = await _new_version(session, staff, role, fields, at)
    await audit.commit_audited(
        session, staff, action, target_type="role", target_id=role.id, before=before,
        after={**role_content(role), "version": version}, at=at, context=context, reason=reason,
        after_commit=cache.invalidate,
    )  # fmt: skip
    return RoleOut(id=role.id, version=version, **role_content(role))


async def list_roles(session: AsyncSession) -> list[RoleOut]:
    return [
        RoleOut(id=r.id, version=await repo.latest_role_version(session, r.id), **role_content(r))
        for r in await repo.roles_by_id(session)
    ]


async def create_role(
    session: AsyncSession, staff: Account, body: RoleIn, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> RoleOut:  # fmt: skip
    if await repo.role(session, body.id) is not None or await repo.latest_role_version(session, body.id):
        raise RoleExists(f"role {body.id!r} exists or existed (its versions are kept)")
    await _check_model(session, body)
    role = AssistantRole(id=body.id, created_at=at, **body.model_dump(exclude={"id"}))
    repo.add_role(session, role)
    return await save_role(session, staff, "role.create", role, {}, body, at=at, context=context, cache=cache)


async def edit_role(
    session: AsyncSession, staff: Account, role_id: str, body: RoleFields, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> RoleOut:  # fmt: skip
    """Replace the role's content: a new version, in use from the next completion."""
    role = await _role(session, role_id)
    before = role_content(role)
    return await save_role(
        session, staff, "role.edit", role, before, body, at=at, context=context, cache=cache
    )


async def rollback_role(
    session: AsyncSession, staff: Account, role_id: str, to_version: int, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> RoleOut:  # fmt: skip
    """Make an earlier version current again (as a new version, so nothing is lost)."""
    role = await _role(session, role_id)
    target = next((v for v in await repo.role_versions(session, role_id) if v.version == to_version), None)
    if target is None:
        raise NotFound(f"role {role_id!r} has no version {to_version}")
    before = role_content(role)
    fields = RoleFields.model_validate(role_content(target))
    return await save_role(
        session, staff, "role.rollback", role, before, fields, at=at, context=context, cache=cache,
        reason=f"to version {to_version}",
    )  # fmt: skip


async def delete_role(
    session: AsyncSession, staff: Account, role_id: str, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> None:  # fmt: skip
    """The role goes (calls naming it get 404 `role_not_found`); its versions stay for the record."""
    role = await _role(session, role_id)
    before = role_content(role)
    await repo.remove(session, role)
    await audit.commit_audited(
        session, staff, "role.delete", target_type="role", target_id=role_id, before=before, after={},
        at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip


async def role_versions(session: AsyncSession, role_id: str) -> list[VersionOut]:
    versions = await repo.role_versions(session, role_id)
    if not versions:
        raise NotFound(f"no role {role_id!r}")
    return [
        VersionOut(version=v.version, author_email=v.author_email, created_at=v.created_at, **role_content(v))
        for v in versions
    ]


async def role_diff(
    session: AsyncSession, role_id: str, from_version: int, to_version: int
) -> dict[str, Any]:
    """The fields that differ between two versions, and a unified diff of the system prompt."""
    versions = {v.version: v for v in await repo.role_versions(session, role_id)}
    missing = [n for n in (from_version, to_version) if n not in versions]
    if missing:
        raise NotFound(f"role {role_id!r} has no version {missing[0]}")
    old, new = role_content(versions[from_version]), role_content(versions[to_version])
    prompt = difflib.unified_diff(
        old["system_prompt"].splitlines(), new["system_prompt"].splitlines(),
        f"version {from_version}", f"version {to_version}", lineterm="",
    )  # fmt: skip
    return {
        "from": from_version,
        "to": to_version,
        "changed": {
            k: {"from": old[k], "to": new[k]}
            for k in ROLE_CONTENT
            if old[k] != new[k] and k != "system_prompt"
        },
        "system_prompt_diff": "\n".join(prompt),
    }


async def role_usage(session: AsyncSession, role_id: str) -> dict[str, Any]:
    """Lifetime completions, failed calls, tokens and users of the role (OLTP)."""
    totals = await usage_totals(session, UsageEvent.role_id == role_id)
    del totals["cost_usd"]  # a role's cost is its models' (by model in the warehouse)
    return {"role_id": role_id, **totals}


# ---------------------------------------------------------------- guardrails (docs/decisions/0056)


async def _check_target(session: AsyncSession, scope: str, target: str) -> None:
    """A 404 unless the role, plan or model named exists."""
    lookup = {"role": repo.role, "plan": repo.plan, "model": repo.model}[scope]
    found = await lookup(session, target)
    if found is None:
        raise NotFound(f"there is no {scope} {target!r}")


async def save_guardrails(
    session: AsyncSession, staff: Account, scope: str, target: str, redact_pii: bool,
    rules: list[dict[str, Any]], *, at: datetime, context: AuditContext, cache: CatalogueCache,
) -> dict[str, Any]:  # fmt: skip
    """Set a role's or a plan's guardrails (its patterns judged safe first), audited; the gateway's snapshot
    reloads once it is committed."""
    await _check_target(session, scope, target)
    row, before, after = await guardrails.save_policy(session, staff, scope, target, redact_pii, rules, at=at)
    out = guardrails.policy_out(row)
    await audit.commit_audited(
        session, staff, "guardrails.edit", target_type=scope, target_id=target, before=before, after=after,
        at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return out


async def delete_guardrails(
    session: AsyncSession, staff: Account, scope: str, target: str, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> None:  # fmt: skip
    before = await guardrails.remove_policy(session, scope, target)
    await audit.commit_audited(
        session, staff, "guardrails.delete", target_type=scope, target_id=target, before=before, after={},
        at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip


async def save_cache_rule(
    session: AsyncSession, staff: Account, scope: str, target: str, ttl_seconds: int, shared: bool, *,
    at: datetime, context: AuditContext, cache: CatalogueCache,
) -> dict[str, Any]:  # fmt: skip
    """Turn a model's or a role's response cache on, audited (docs/decisions/0057); in use from the next
    completion once committed."""
    await _check_target(session, scope, target)
    return await response_cache.save_rule(
        session, staff, scope, target, ttl_seconds, shared, at=at, context=context,
        after_commit=cache.invalidate,
    )  # fmt: skip
