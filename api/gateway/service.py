"""Chat completions: quota in one transaction, the provider calls outside any, the outcome in a second.

Providers serving the model are tried in priority order; each gets its retries and its timeout; a
retryable failure (connection, timeout, 5xx, 429) moves on to the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.catalogue.service import CatalogueCache, ModelRequired, ModelSpec
from api.core.errors import AppError, ProviderUnavailable, QuotaExceeded
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.gateway.providers.base import CallParams, ChatMessage, Completion, ProviderError
from api.gateway.providers.pool import ProviderPool
from api.quotas import repository as quotas
from api.users import repository as users
from api.users.models import Account, Plan

DAILY_REQUESTS = "requests_per_day"
log = logging.getLogger("aiadmin.gateway")


class MaxTokensTooLarge(AppError):
    status_code = 400
    code = "max_tokens_too_large"


class AllProvidersFailed(ProviderError):
    def __init__(self, attempts: list[dict[str, str]]) -> None:
        super().__init__(f"every provider failed: {attempts}", code="all_providers_failed")
        self.attempts = attempts


class Gateway:
    """What the gateway keeps between calls: the catalogue snapshot and the provider adapters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogue = CatalogueCache(settings)
        self.pool = ProviderPool()

    async def aclose(self) -> None:
        await self.pool.aclose()


@dataclass(frozen=True, slots=True)
class CompletionResult:
    completion: Completion
    model: ModelSpec
    provider: str
    created: datetime
    request_id: str


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _seconds_to_next_utc_day(at: datetime) -> int:
    tomorrow = datetime.combine(_utc_day(at) + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((tomorrow - at).total_seconds()))


async def _take_daily_request(
    session: AsyncSession, account: Account, plan: Plan | None, ctx: RequestContext, at: datetime
) -> None:
    limit = plan.daily_requests if plan else 0
    if limit is None:
        return
    if await quotas.try_consume(session, account.id, DAILY_REQUESTS, _utc_day(at), limit) is not None:
        return
    record(
        session,
        EventType.QUOTA_EXCEEDED,
        at=at,
        ctx=ctx,
        **about(account),
        status="refused",
        error_code=QuotaExceeded.code,
        properties={"metric": DAILY_REQUESTS, "limit": limit},
    )
    await session.commit()
    retry_after = _seconds_to_next_utc_day(at)
    raise QuotaExceeded(
        f"plan {account.plan_code!r} allows {limit} completions per UTC day; try again tomorrow",
        headers={"Retry-After": str(retry_after)},
        limit=limit,
        metric=DAILY_REQUESTS,
        retry_after=retry_after,
    )


async def call_with_fallback(
    pool: ProviderPool, spec: ModelSpec, messages: list[ChatMessage], params: CallParams
) -> tuple[Completion, str, list[dict[str, str]]]:
    """The first answer of the model's providers in priority order; the failed attempts before it."""
    attempts: list[dict[str, str]] = []
    for route in spec.routes:
        provider = route.provider
        for _ in range(provider.max_retries + 1):
            try:
                completion = await asyncio.wait_for(
                    pool.adapter(provider).complete(route.provider_model, messages, params),
                    timeout=provider.timeout_seconds,
                )
                return completion, provider.id, attempts
            except TimeoutError:
                attempts.append({"provider": provider.id, "error": "provider_timeout"})
            except ProviderError as exc:
                attempts.append({"provider": provider.id, "error": exc.code})
                if not exc.retryable:
                    raise
    raise AllProvidersFailed(attempts)


async def _settle_failed_call(
    session: AsyncSession,
    account: Account,
    call: dict,
    error: BaseException,
    started: float,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Transaction 2 (failure): give the quota back and record the failed call."""
    await session.rollback()
    await quotas.release(session, account.id, DAILY_REQUESTS, _utc_day(at))
    attempts = getattr(error, "attempts", None)
    record(
        session,
        EventType.LLM_CALL_FAILED,
        at=at,
        ctx=ctx,
        **call,
        provider=attempts[-1]["provider"] if attempts else None,
        latency_ms=int((time.perf_counter() - started) * 1000),
        status="error",
        error_code=error.code if isinstance(error, ProviderError) else "internal_error",
        properties={"attempts": attempts} if attempts else {},
    )
    await session.commit()


def _first(*values):
    return next((v for v in values if v is not None), None)


async def complete(
    session: AsyncSession,
    gateway: Gateway,
    account: Account,
    *,
    model: str | None,
    messages: list[ChatMessage],
    max_tokens: int | None,
    temperature: float | None,
    ctx: RequestContext,
    at: datetime,
    role: str | None = None,
    fault: str | None = None,
) -> CompletionResult:
    catalogue = await gateway.catalogue.get(session)
    persona = catalogue.role(role) if role else None
    model = model or (persona.default_model if persona else None)
    if not model:
        raise ModelRequired("name a `model` (or an assistant role that has a default model)")
    plan = await users.get_plan(session, account.plan_code)
    spec = catalogue.callable(model, plan.tiers if plan else frozenset(), account.plan_code)
    if max_tokens is not None and max_tokens > spec.max_output_tokens:
        raise MaxTokensTooLarge(f"{spec.id!r} writes at most {spec.max_output_tokens} tokens per answer")
    role_params = persona.default_params if persona else {}
    params = CallParams(
        max_tokens=_first(max_tokens, role_params.get("max_tokens"), spec.default_params.get("max_tokens")),
        temperature=_first(
            temperature, role_params.get("temperature"), spec.default_params.get("temperature")
        ),
        fault=fault if gateway.settings.mock_faults else None,
    )
    if persona:  # the role's system prompt comes first, whatever the client sent
        messages = [ChatMessage("system", persona.system_prompt), *messages]
    call = {**about(account), "model_id": spec.id, "role_id": persona.id if persona else None}

    # Transaction 1: take the quota (atomic), committed before any provider is called.
    await _take_daily_request(session, account, plan, ctx, at)
    await session.commit()

    started = time.perf_counter()
    try:
        completion, provider_id, attempts = await call_with_fallback(gateway.pool, spec, messages, params)
    except BaseException as exc:
        # Whatever went wrong (the providers, a bug, the request being cancelled), the unit taken above is
        # given back and the failed call is recorded: nothing is charged for a call that did not happen.
        await _settle_failed_call(session, account, call, exc, started, ctx, at)
        if isinstance(exc, ProviderError):
            log.warning("model %s: providers failed: %s", spec.id, exc)
            raise ProviderUnavailable(
                f"the providers of {spec.id!r} failed; the call was not charged"
            ) from exc
        raise
    latency_ms = int((time.perf_counter() - started) * 1000)

    # Transaction 2 (success): record the call with its tokens and its cost at the price in force.
    properties = {"attempts": attempts} if attempts else {}
    if completion.usage_estimated:
        properties["usage_estimated"] = True
    event = record(
        session,
        EventType.LLM_CALL_SUCCEEDED,
        at=at,
        ctx=ctx,
        **call,
        provider=provider_id,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cost_usd=spec.cost_usd(at, completion.input_tokens, completion.output_tokens),
        latency_ms=latency_ms,
        status="ok",
        properties=properties,
    )
    await session.flush()
    request_id = f"chatcmpl-{event.event_id.hex}"
    await session.commit()
    return CompletionResult(completion, spec, provider_id, at, request_id)


async def models_for(session: AsyncSession, gateway: Gateway, account: Account) -> list[ModelSpec]:
    catalogue = await gateway.catalogue.get(session)
    plan = await users.get_plan(session, account.plan_code)
    return catalogue.listed_for(plan.tiers if plan else frozenset())
