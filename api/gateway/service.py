"""Chat completions: quota in one transaction, the provider calls outside any, the outcome in a second.

Providers serving the model are tried in priority order; each gets its retries and its timeout; a
retryable failure (connection, timeout, 5xx, 429) moves on to the next one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.billing.service import CreditRate, InsufficientBalance
from api.cache import service as response_cache
from api.catalogue.service import (
    Catalogue,
    CatalogueCache,
    ModelRequired,
    ModelSpec,
    PlanSpec,
    RoleSpec,
)
from api.core.errors import AppError, ProviderUnavailable, QuotaExceeded
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.gateway.books import (
    Books,
    Charge,
    ChatLimitReached,  # noqa: F401 (the chat's refusals are the gateway's: callers catch them from here)
    ChatMessageLimitReached,  # noqa: F401
    ChatNotFound,
    LowBalanceWatch,
    Outcome,
    PortableBooks,
    Prepared,
    Quota,
)
from api.gateway.bounds import UsageBound, prompt_floor, usage_bound
from api.gateway.fastlane import FastBooks
from api.guardrails import service as guardrails
from api.notifications import notify
from api.providers.base import CallParams, ChatMessage, Completion, ProviderError
from api.providers.pool import ProviderPool
from api.quotas.windows import (
    DAILY_REQUESTS,
    DAILY_TOKENS,
    MONTHLY_TOKENS,
    month_start,
    next_day,
    next_month,
    seconds_until,
    utc_day,
)

log = logging.getLogger("aiadmin.gateway")


class MaxTokensTooLarge(AppError):
    status_code = 400
    code = "max_tokens_too_large"


class ContextLengthExceeded(AppError):
    status_code = 400
    code = "context_length_exceeded"


class CallTimeLimit(ProviderError):
    """The call ran past `call_max_seconds` (AIADMIN_CALL_MAX_SECONDS)."""

    code = "call_time_limit"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the call ran past its time limit of {seconds:g} s", code=self.code)


class AllProvidersFailed(ProviderError):
    def __init__(self, attempts: list[dict[str, str]]) -> None:
        super().__init__(f"every provider failed: {attempts}", code="all_providers_failed")
        self.attempts = attempts


class Gateway:
    """What the gateway keeps between calls: the catalogue snapshot, the provider adapters, the books."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogue = CatalogueCache(settings)
        self.pool = ProviderPool()
        # A completion's bookkeeping (api/gateway/books.py): the portable implementation until `open`
        # picks the fast lane (PostgreSQL with AIADMIN_FAST_LANE on).
        self.books: Books = PortableBooks()
        # The fast lane, which also finds the caller of `/v1/*` for authentication; None: the ORM does.
        self.callers: FastBooks | None = None
        self.settlements: set[asyncio.Task] = set()  # streams being settled after they ended
        self.kept_answers = itertools.count()  # the response cache trims at every TRIM_EVERY-th of these

    async def open(self) -> None:
        if self.settings.fast_lane and not self.settings.is_sqlite:
            fast = FastBooks(self.settings, PortableBooks())
            await fast.open()
            self.books = self.callers = fast

    async def aclose(self) -> None:
        if self.settlements:
            await asyncio.gather(*self.settlements, return_exceptions=True)
        await self.pool.aclose()
        if self.callers is not None:
            await self.callers.close()
            self.books, self.callers = PortableBooks(), None


@dataclass(frozen=True, slots=True)
class CompletionResult:
    completion: Completion
    model: ModelSpec
    provider: str
    created: datetime
    request_id: str


def _worst_case(spec: ModelSpec, rate: CreditRate, bound: UsageBound, at: datetime) -> Decimal | None:
    """The credits to reserve for a call: the price of the most tokens it can use (api/gateway/bounds.py);
    None for a free-tier model."""
    if spec.tier != "paid":
        return None
    return rate.credits_for_usd(spec.cost_usd(at, bound.input_tokens, bound.output_tokens))


def _fit_context(spec: ModelSpec, messages: list[ChatMessage], params: CallParams) -> CallParams:
    """Refuse a prompt that cannot fit the model's context with the answer asked for (counting its fewest
    tokens); the call's answer limit, always sent to the provider, so that it cannot write more than the
    reservation holds: the one asked for, else the model's, within what the context leaves."""
    floor = prompt_floor(messages)
    if floor + (params.max_tokens or 1) > spec.context_length:
        asked = f" and an answer of up to {params.max_tokens}" if params.max_tokens else ""
        raise ContextLengthExceeded(
            f"{spec.id!r} reads at most {spec.context_length} tokens; this prompt has at least {floor}{asked}"
        )
    if params.max_tokens is not None:
        return params
    return replace(params, max_tokens=min(spec.max_output_tokens, spec.context_length - floor))


def _insufficient(reserved: Decimal) -> InsufficientBalance:
    return InsufficientBalance(f"this call may cost up to {reserved} credits: top up your balance")


def _request_quota(plan: PlanSpec | None, at: datetime) -> Quota | None:
    """The day's completions the plan allows (no plan: none; None: no limit)."""
    limit = plan.daily_requests if plan else 0
    return None if limit is None else Quota(DAILY_REQUESTS, utc_day(at), limit)


def _token_quotas(plan: PlanSpec | None, at: datetime) -> list[Quota]:
    """The day's and the month's tokens: a call reserves its most in both (limit None: counted, no limit)."""
    return [
        Quota(DAILY_TOKENS, utc_day(at), plan.tokens_per_day if plan else None),
        Quota(MONTHLY_TOKENS, month_start(at), plan.tokens_per_month if plan else None),
    ]


async def _refuse_limit(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    quota: Quota,
    ctx: RequestContext,
    at: datetime,
    tokens: int,
) -> NoReturn:
    """Refuse on the plan's used-up `quota` (the day's completions, or the day's or month's tokens, which
    have no room left for the `tokens` the call may use)."""
    plan = account.plan_code
    if quota.metric == DAILY_REQUESTS:
        code, resets = QuotaExceeded.code, next_day(at)
        message = f"plan {plan!r} allows {quota.limit} completions per UTC day; try again tomorrow"
    else:
        period, resets = ("day", next_day(at)) if quota.metric == DAILY_TOKENS else ("month", next_month(at))
        code = "token_quota_exceeded"
        message = (
            f"plan {plan!r} allows {quota.limit} tokens per {period} and this call may use up to {tokens}: "
            "wait for the reset, or send a shorter prompt or a lower `max_tokens`"
        )
    await _refuse_quota(
        session, settings, account, ctx, at,
        metric=quota.metric, limit=quota.limit, error_code=code,
        retry_after=seconds_until(resets, at), message=message,
    )  # fmt: skip


async def _refuse_quota(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    ctx: RequestContext,
    at: datetime,
    *,
    metric: str,
    limit: int,
    error_code: str,
    retry_after: int,
    message: str,
) -> NoReturn:
    """Record the refusal (committed: it must survive the 429), then refuse with the limit and Retry-After."""
    record(
        session,
        EventType.QUOTA_EXCEEDED,
        at=at,
        ctx=ctx,
        **about(account),
        status="refused",
        error_code=error_code,
        properties={"metric": metric, "limit": limit},
    )
    resets_at = at + timedelta(seconds=retry_after)
    await notify.notify(
        session, settings, "quota_exhausted", account, at,
        {"limit": limit, "metric": metric, "resets_at": resets_at.strftime("%Y-%m-%d %H:%M")},
        dedup_key=f"quota_exhausted:{metric}:{resets_at:%Y-%m-%d}",
    )  # fmt: skip
    await session.commit()
    raise QuotaExceeded(
        message,
        headers={"Retry-After": str(retry_after)},
        limit=limit,
        metric=metric,
        retry_after=retry_after,
    )


async def call_with_fallback(
    pool: ProviderPool, spec: ModelSpec, messages: list[ChatMessage], params: CallParams, max_seconds: float
) -> tuple[Completion, str, list[dict[str, str]]]:
    """The first answer of the model's providers in priority order, within `max_seconds` in all; the failed
    attempts before it."""
    attempts: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(max_seconds):
            return await _first_answer(pool, spec, messages, params, attempts)
    except TimeoutError:
        error = CallTimeLimit(max_seconds)
        error.attempts = attempts
        raise error from None


async def _first_answer(
    pool: ProviderPool,
    spec: ModelSpec,
    messages: list[ChatMessage],
    params: CallParams,
    attempts: list[dict[str, str]],
) -> tuple[Completion, str, list[dict[str, str]]]:
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


def _first(*values):
    return next((v for v in values if v is not None), None)


async def prepare(
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
    chat_id: uuid.UUID | None = None,
    stream: bool = False,
) -> Prepared:
    """Resolve role, model and parameters, then transaction 1: take the quota and reserve the credits. A
    call the response cache answers (`Prepared.hit`) is settled here too: what it takes is the staff's
    setting (docs/decisions/0057), and no provider is called."""
    started = time.perf_counter()
    catalogue = await gateway.catalogue.get(session)
    persona = catalogue.role(role) if role else None
    plan = catalogue.plan(account.plan_code)
    persona, model, experiment = _experiment(catalogue, persona, model, account, plan)
    model, experiment = _alias(catalogue, model, experiment, account, plan)
    model = model or (persona.default_model if persona else None)
    if not model:
        raise ModelRequired("name a `model` (or an assistant role that has a default model)")
    spec = catalogue.callable(model, plan.tiers if plan else frozenset(), account.plan_code)
    if max_tokens is not None and max_tokens > spec.max_output_tokens:
        raise MaxTokensTooLarge(f"{spec.id!r} writes at most {spec.max_output_tokens} tokens per answer")
    call = {
        **about(account),
        "model_id": spec.id,
        "role_id": persona.id if persona else None,
        "chat_id": chat_id,
    }
    reference = uuid.uuid4()
    messages, redactions = await _guarded(session, catalogue, call, messages, reference, ctx, at)
    role_params = persona.default_params if persona else {}
    params = CallParams(
        max_tokens=_first(max_tokens, role_params.get("max_tokens"), spec.default_params.get("max_tokens")),
        temperature=_first(
            temperature, role_params.get("temperature"), spec.default_params.get("temperature")
        ),
        fault=(fault if gateway.settings.mock_faults else None) or gateway.settings.mock_fault,
    )
    if persona:  # the role's system prompt comes first, whatever the client sent
        messages = [ChatMessage("system", persona.system_prompt), *messages]
    params = _fit_context(spec, messages, params)

    role_version = persona.version if persona else None
    cache = response_cache.call_for(
        catalogue.cache, spec.id, call["role_id"], role_version, account.id, chat_id, messages, params
    )
    hit = await gateway.books.cached(session, cache, at) if cache is not None else None
    taking = catalogue.cache.hits_take if hit is not None else "full"

    # Transaction 1: take the quota, the chat's message slots and the credits (each atomic), committed
    # before any provider is called; a refusal of any leaves nothing taken.
    bound = usage_bound(messages, spec.context_length, params.max_tokens)
    reserved = _worst_case(spec, catalogue.credit_rate, bound, at)
    if hit is not None and reserved is not None:  # a hit costs its stored cost, or nothing
        reserved = catalogue.credit_rate.credits_for_usd(hit.cost_usd) if taking == "full" else None
    settings = gateway.settings
    balance = chat_created = None
    if taking != "none":
        taken = await gateway.books.take(
            session, account, plan=plan, tokens=_token_quotas(plan, at), requests=_request_quota(plan, at),
            reserve_tokens=bound.total, reserve=reserved, reference=reference.hex, model_id=spec.id,
            chat_id=chat_id, messages=messages, at=at, role_id=persona.id if persona else None,
        )  # fmt: skip
        if taken.refused is not None:
            await _refuse_limit(session, settings, account, taken.refused, ctx, at, bound.total)
        if taken.refusal is not None:
            await _refused(session, call, taken.refusal, ctx, at)
        if taken.insufficient:
            await _refused(session, call, _insufficient(reserved), ctx, at)
        balance, chat_created = taken.balance, taken.chat_created
    if redactions is not None:  # the call goes ahead with personal data taken out: say so (counts only)
        guardrails.record_redacted(session, call, *redactions, reference, ctx, at)
        await session.commit()
    charge = _charge(reference.hex, reserved, catalogue, balance, settings)
    prepared = Prepared(
        spec, params, messages, call, charge, reference, bound, chat_id, bool(chat_created), role_version,
        cache, hit, experiment,
    )  # fmt: skip
    if hit is not None:
        await _settle_hit(session, gateway, account, prepared, taking, stream, started, ctx, at)
    return prepared


def _experiment(
    catalogue: Catalogue, persona: RoleSpec | None, model: str | None, account: Account, plan: PlanSpec | None
) -> tuple[RoleSpec | None, str | None, dict[str, str] | None]:
    """The role's running experiment, if any, applied to the call (docs/decisions/0059): the user's variant
    (sticky, `ExperimentSpec.variant_for`) replaces the role's content with its version's and the model
    with its own, unless the caller named a model: the caller's model is kept (a client that asks for a
    model gets it), the variant's version still applies, and the event says `experiment_model: caller`;
    or unless the caller's plan may not call the variant's model: the role's model is used, and the event
    says `experiment_model: plan` (an experiment never refuses a call the role alone would answer).
    The same holds for the model of the variant's role version, when the variant names no model of its
    own. Returns the role, the model and what the call's events carry (None: no experiment)."""
    experiment = catalogue.experiments.get(persona.id) if persona else None
    if experiment is None:
        return persona, model, None
    variant = experiment.variant_for(account.id)
    marks = {"experiment_id": str(experiment.id), "variant": variant.key}
    role_model, tiers = persona.default_model, plan.tiers if plan else frozenset()
    if variant.content is not None:
        prompt, default_model, params = variant.content
        persona = replace(
            persona, system_prompt=prompt, default_model=default_model, default_params=params,
            version=variant.role_version,
        )  # fmt: skip
    named = catalogue.model_named(model) if model is not None else None  # an alias: its model (0062)
    if variant.model_id is not None and variant.model_id != named:
        if model is not None:
            marks["experiment_model"] = "caller"
        elif not catalogue.callable_on(variant.model_id, tiers):
            marks["experiment_model"] = "plan"
        else:
            model = variant.model_id
    if (
        model is None
        and persona.default_model not in (None, role_model)
        and not catalogue.callable_on(persona.default_model, tiers)
    ):  # the variant's version's model, which the plan may not call: the role's own, as for a variant's model
        persona = replace(persona, default_model=role_model)
        marks["experiment_model"] = "plan"
    return persona, model, marks


def _alias(
    catalogue: Catalogue, model: str | None, marks: dict[str, str] | None, account: Account,
    plan: PlanSpec | None,
) -> tuple[str | None, dict[str, str] | None]:  # fmt: skip
    """A `model` that names an alias (docs/decisions/0062) becomes the model it stands for: its target, or,
    while the alias runs an experiment, the user's variant's model (sticky, like a role's), unless the
    caller's plan may not call that model (the target then, and the event says `experiment_model: plan`).
    A call already in its role's experiment stays in that one alone (a call carries one experiment): the
    alias is then the caller's named model, so its target. The call's events carry the alias."""
    target = catalogue.aliases.get(model) if model is not None else None
    if target is None:
        return model, marks
    marks = {**(marks or {}), "alias": model}
    experiment = catalogue.alias_experiments.get(model)
    if experiment is None or "experiment_id" in marks:
        return target, marks
    variant = experiment.variant_for(account.id)
    marks.update(experiment_id=str(experiment.id), variant=variant.key)
    if variant.model_id == target or catalogue.callable_on(
        variant.model_id, plan.tiers if plan else frozenset()
    ):
        return variant.model_id, marks
    marks["experiment_model"] = "plan"
    return target, marks


async def _settle_hit(
    session: AsyncSession, gateway: Gateway, account: Account, prepared: Prepared, taking: str, stream: bool,
    started: float, ctx: RequestContext, at: datetime,
) -> None:  # fmt: skip
    """A call the cache answered: its `llm.call_succeeded` (provider "cache", cost 0, the cost it saved),
    settled through the books like any answer, or (`taking` "none": nothing was taken) recorded alone."""
    hit = prepared.hit
    properties = {"cache": "hit", "saved_cost_usd": str(hit.cost_usd), **({"stream": True} if stream else {})}
    outcome = Outcome(
        provider=response_cache.PROVIDER, input_tokens=hit.input_tokens, output_tokens=hit.output_tokens,
        cost_usd=Decimal(0), latency_ms=int((time.perf_counter() - started) * 1000), answer=hit.answer,
        properties=properties, charge_usd=hit.cost_usd if taking == "full" else None,
    )  # fmt: skip
    if taking == "none":
        record(session, EventType.LLM_CALL_SUCCEEDED, at=at, ctx=ctx, **outcome.event(prepared))
        await session.commit()
        return
    await gateway.books.settle(session, account, prepared, outcome, ctx, at)


def cache_properties(prepared: Prepared) -> dict[str, str]:
    """A miss's mark on its `llm.call_succeeded` (with the hits', what the hit ratio counts)."""
    return {} if prepared.cache is None else {"cache": "miss"}


async def keep_answer(
    session: AsyncSession, gateway: Gateway, prepared: Prepared, outcome: Outcome, finish_reason: str,
    at: datetime,
) -> None:  # fmt: skip
    """After a miss's settlement: keep its answer for the next identical request."""
    if prepared.cache is None or outcome.status != "ok" or outcome.error_code is not None:
        return
    row = response_cache.kept_row(
        prepared.cache, answer=outcome.answer, finish_reason=finish_reason, input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens, cost_usd=outcome.cost_usd, at=at,
    )  # fmt: skip
    await gateway.books.keep(
        session, row, max_entries=gateway.settings.response_cache_max_entries,
        trim=next(gateway.kept_answers) % response_cache.TRIM_EVERY == 0,
    )  # fmt: skip


async def _guarded(
    session: AsyncSession, catalogue: Catalogue, call: dict, messages: list[ChatMessage],
    reference: uuid.UUID, ctx: RequestContext, at: datetime,
) -> tuple[list[ChatMessage], tuple[dict[str, int], list] | None]:  # fmt: skip
    """The role's and the plan's guardrails on the client's messages (docs/decisions/0056), from the
    snapshot: a content rule that matches refuses the call before anything is taken (400
    `content_blocked`, its event and moderation flag committed); else the messages the provider gets and
    the chat keeps, with personal data replaced when a policy says so, and what was replaced (None:
    nothing)."""
    hit, policies = guardrails.screen(
        catalogue.guardrails, call["role_id"], call.get("plan") or "", [m.content for m in messages]
    )
    if hit is not None:
        await guardrails.refuse(session, call, hit, reference, ctx, at)
    if not any(p.redact_pii for p in policies):
        return messages, None
    texts, counts = guardrails.redacted([m.content for m in messages])
    if not counts:
        return messages, None
    return [replace(m, content=t) for m, t in zip(messages, texts, strict=True)], (counts, policies)


def _charge(
    reference: str,
    reserved: Decimal | None,
    catalogue: Catalogue,
    balance: Decimal | None,
    settings: Settings,
) -> Charge:
    if reserved is None:
        return Charge(reference, Decimal(0), None)
    threshold = catalogue.balance_low_below
    watch = None if threshold is None else LowBalanceWatch(threshold, balance + reserved, settings)
    return Charge(reference, reserved, catalogue.credit_rate, watch)


async def _refused(session: AsyncSession, call: dict, refusal: AppError, ctx: RequestContext, at) -> NoReturn:
    """Transaction 1 took nothing: record why (a missing chat is not worth an event), and refuse."""
    await session.rollback()
    if not isinstance(refusal, ChatNotFound):
        refused = (
            EventType.BALANCE_INSUFFICIENT
            if isinstance(refusal, InsufficientBalance)
            else EventType.QUOTA_EXCEEDED
        )
        record(session, refused, at=at, ctx=ctx, **call, status="refused", error_code=refusal.code)
        await session.commit()
    raise refusal


async def complete(
    session: AsyncSession,
    gateway: Gateway,
    account: Account,
    *,
    ctx: RequestContext,
    at: datetime,
    **request,
) -> CompletionResult:
    prepared = await prepare(session, gateway, account, ctx=ctx, at=at, **request)
    spec, params, messages, reference = prepared.spec, prepared.params, prepared.messages, prepared.reference
    if (hit := prepared.hit) is not None:
        completion = Completion(hit.answer, hit.input_tokens, hit.output_tokens, hit.finish_reason)
        return CompletionResult(completion, spec, response_cache.PROVIDER, at, f"chatcmpl-{reference.hex}")
    started = time.perf_counter()
    try:
        completion, provider_id, attempts = await call_with_fallback(
            gateway.pool, spec, messages, params, gateway.settings.call_max_seconds
        )
    except BaseException as exc:
        # Whatever went wrong (the providers, a bug, the request being cancelled), the unit taken above is
        # given back and the failed call is recorded: nothing is charged for a call that did not happen.
        await gateway.books.refund(session, account, prepared, exc, started, ctx, at)
        if isinstance(exc, ProviderError):
            log.warning("model %s: providers failed: %s", spec.id, exc)
            raise ProviderUnavailable(
                f"the providers of {spec.id!r} failed; the call was not charged"
            ) from exc
        raise
    latency_ms = int((time.perf_counter() - started) * 1000)

    # Transaction 2 (success): settle the credits to the real cost, record the call with its tokens and
    # its cost at the price in force.
    properties = {**cache_properties(prepared), **({"attempts": attempts} if attempts else {})}
    input_tokens, output_tokens = completion.input_tokens, completion.output_tokens
    if completion.usage_estimated:  # the provider did not say: the most it can have billed
        input_tokens, output_tokens = prepared.bound.billed(completion.content)
        properties.update(usage_estimated=True, usage_source="bound")
    outcome = Outcome(
        provider=provider_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=spec.cost_usd(at, input_tokens, output_tokens),
        latency_ms=latency_ms,
        answer=completion.content,
        properties=properties,
    )
    await gateway.books.settle(session, account, prepared, outcome, ctx, at)
    await keep_answer(session, gateway, prepared, outcome, completion.finish_reason, at)
    return CompletionResult(completion, spec, provider_id, at, f"chatcmpl-{reference.hex}")


async def models_for(
    session: AsyncSession, gateway: Gateway, account: Account
) -> tuple[list[ModelSpec], list[tuple[str, ModelSpec]]]:
    """The models /v1/models lists to the caller's plan, and the aliases it may call, each with its model."""
    catalogue = await gateway.catalogue.get(session)
    plan = catalogue.plan(account.plan_code)
    tiers = plan.tiers if plan else frozenset()
    return catalogue.listed_for(tiers), catalogue.aliases_for(tiers)


async def plans_offered(session: AsyncSession, gateway: Gateway) -> tuple[list[PlanSpec], Catalogue]:
    """The public plans, cheapest first (unpriced ones first), with the snapshot that lists their models."""
    catalogue = await gateway.catalogue.get(session)
    plans = [p for p in catalogue.plans.values() if p.public]
    return sorted(plans, key=lambda p: (p.price_monthly is not None, p.price_monthly or 0, p.code)), catalogue


async def roles_for(
    session: AsyncSession, gateway: Gateway, account: Account
) -> tuple[list[tuple[RoleSpec, str | None]], list[ModelSpec]]:
    """The roles a completion by `account` accepts (Catalogue.usable_roles) and the models offered to it."""
    catalogue = await gateway.catalogue.get(session)
    plan = catalogue.plan(account.plan_code)
    tiers = plan.tiers if plan else frozenset()
    return catalogue.usable_roles(tiers), catalogue.offered(tiers)
