"""The staff playground (docs/decisions/0058): a role, an earlier version of it or an unsaved system prompt,
tried on any enabled model, through the same providers with the same fallback as a user's call
(`call_with_fallback`).

It is the operator's cost, not the staff member's: no plan decides the model, no quota or credits are
taken. The provider cost is still recorded, as an `llm.call_succeeded` / `llm.call_failed` of the staff
member marked `staff_test: true` in its properties: the provider-cost reports count it, the user analytics
leave it out (dbt, docs/data-platform.md). Each call is audited (`playground.call`) with its tokens and cost;
the prompt text is not kept there, only its size and digest, and the dialogue not at all.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.catalogue import admin as catalogue_admin
from api.catalogue.service import Catalogue, ModelSpec
from api.core.errors import NotFound, ProviderUnavailable
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.gateway.bounds import usage_bound
from api.gateway.schemas import PlaygroundIn, PlaygroundOut
from api.gateway.service import Gateway, MaxTokensTooLarge, _first, _fit_context, call_with_fallback
from api.providers.base import CallParams, ChatMessage, ProviderError

log = logging.getLogger("aiadmin.playground")


@dataclass(frozen=True, slots=True)
class Prompt:
    """What is tried: the system prompt and default parameters of a role's version, or an unsaved prompt."""

    system_prompt: str
    params: dict[str, Any]
    role: str | None = None
    version: int | None = None


async def _prompt(session: AsyncSession, body: PlaygroundIn) -> Prompt:
    """The role at the version asked for (its latest when none; a disabled role too: staff try it before
    turning it on), or the unsaved prompt."""
    if body.role is None:
        return Prompt(body.system_prompt or "", {})
    versions = await catalogue_admin.role_versions(session, body.role)  # 404 for a role never saved
    chosen = (
        versions[-1]
        if body.version is None
        else next((v for v in versions if v.version == body.version), None)
    )
    if chosen is None:
        raise NotFound(f"role {body.role!r} has no version {body.version}")
    return Prompt(chosen.system_prompt, dict(chosen.default_params), body.role, chosen.version)


def _model(catalogue: Catalogue, model_id: str) -> ModelSpec:
    """Any enabled model a provider serves, whatever the staff member's plan: staff tests are not bound by
    plans (the one rule of `Catalogue.callable`, every tier allowed)."""
    every_tier = frozenset(m.tier for m in catalogue.models.values())
    return catalogue.callable(catalogue.model_named(model_id), every_tier, plan="(staff test)")


async def run(
    session: AsyncSession,
    gateway: Gateway,
    staff: Account,
    body: PlaygroundIn,
    *,
    ctx: RequestContext,
    audit_ctx: AuditContext,
    at: datetime,
) -> PlaygroundOut:
    """Resolve the prompt and the model, call the providers outside any transaction, then record the call's
    event and its audit row together."""
    catalogue = await gateway.catalogue.get(session)
    spec = _model(catalogue, body.model)
    prompt = await _prompt(session, body)
    if body.max_tokens is not None and body.max_tokens > spec.max_output_tokens:
        raise MaxTokensTooLarge(f"{spec.id!r} writes at most {spec.max_output_tokens} tokens per answer")
    messages = [ChatMessage("system", prompt.system_prompt)]
    messages += [ChatMessage(m.role, m.content) for m in body.messages]
    params = _fit_context(
        spec,
        messages,
        CallParams(
            max_tokens=_first(
                body.max_tokens, prompt.params.get("max_tokens"), spec.default_params.get("max_tokens")
            ),
            temperature=_first(
                body.temperature, prompt.params.get("temperature"), spec.default_params.get("temperature")
            ),
            fault=gateway.settings.mock_fault,  # the operator's fault drill applies here as in users' calls
        ),
    )
    await session.commit()  # nothing was written: no transaction stays open across the provider call

    call = {**about(staff), "model_id": spec.id, "role_id": prompt.role, "event_id": uuid.uuid4()}
    audited = {
        "model": spec.id,
        "role": prompt.role,
        "version": prompt.version,
        "prompt": "role version" if prompt.role else "unsaved prompt",
        "system_prompt_chars": len(prompt.system_prompt),
        "system_prompt_sha256": hashlib.sha256(prompt.system_prompt.encode()).hexdigest(),
        "messages": len(body.messages),
    }
    properties: dict[str, Any] = {"staff_test": True}
    if prompt.version is not None:
        properties["role_version"] = prompt.version
    started = time.perf_counter()
    try:
        completion, provider_id, attempts = await call_with_fallback(
            gateway.pool, spec, messages, params, gateway.settings.call_max_seconds
        )
    except ProviderError as exc:
        latency_ms = int((time.perf_counter() - started) * 1000)
        tried = getattr(exc, "attempts", None) or []
        record(
            session, EventType.LLM_CALL_FAILED, at=at, ctx=ctx, **call, latency_ms=latency_ms,
            status="error", error_code=exc.code,
            properties={**properties, **({"attempts": tried} if tried else {})},
        )  # fmt: skip
        await audit.commit_audited(
            session, staff, "playground.call", target_type="model", target_id=spec.id, before={},
            after={**audited, "ok": False, "error": exc.code, "latency_ms": latency_ms}, at=at,
            context=audit_ctx,
        )  # fmt: skip
        log.warning("playground on %s: providers failed: %s", spec.id, exc)
        raise ProviderUnavailable(f"the providers of {spec.id!r} failed") from exc
    latency_ms = int((time.perf_counter() - started) * 1000)

    input_tokens, output_tokens = completion.input_tokens, completion.output_tokens
    if completion.usage_estimated:  # the provider did not say: the most it can have billed
        bound = usage_bound(messages, spec.context_length, params.max_tokens)
        input_tokens, output_tokens = bound.billed(completion.content)
        properties.update(usage_estimated=True, usage_source="bound")
    if attempts:
        properties["attempts"] = attempts
    cost_usd = spec.cost_usd(at, input_tokens, output_tokens)
    rate = catalogue.credit_rate
    credits = rate.credits_for_usd(cost_usd) if rate is not None else None
    # No credits column: nothing was charged (the revenue mart's credits_charged stays what users paid).
    record(
        session, EventType.LLM_CALL_SUCCEEDED, at=at, ctx=ctx, **call, provider=provider_id,
        input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost_usd, latency_ms=latency_ms,
        status="ok", properties=properties,
    )  # fmt: skip
    out = PlaygroundOut(
        answer=completion.content, model=spec.id, role=prompt.role, version=prompt.version,
        provider=provider_id, attempts=attempts, input_tokens=input_tokens, output_tokens=output_tokens,
        usage_estimated=completion.usage_estimated, cost_usd=cost_usd, credits=credits, latency_ms=latency_ms,
    )  # fmt: skip
    await audit.commit_audited(
        session, staff, "playground.call", target_type="model", target_id=spec.id, before={},
        after={
            **audited, "ok": True, "provider": provider_id, "input_tokens": input_tokens,
            "output_tokens": output_tokens, "cost_usd": str(cost_usd),
            "credits": None if credits is None else str(credits), "latency_ms": latency_ms,
        },
        at=at, context=audit_ctx,
    )  # fmt: skip
    return out
