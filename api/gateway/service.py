"""Chat completions: quota in one transaction, the provider call outside any, the outcome in a second."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import AppError, ProviderUnavailable, QuotaExceeded
from api.events.outbox import RequestContext, about, record
from api.events.types import EventType
from api.gateway.providers.base import ChatMessage, Completion, ModelInfo, Provider, ProviderError
from api.quotas import repository as quotas
from api.users import repository as users
from api.users.models import Account

DAILY_REQUESTS = "requests_per_day"
log = logging.getLogger("aiadmin.gateway")


class ModelNotFound(AppError):
    status_code = 404
    code = "model_not_found"
    type = "invalid_request_error"


class Gateway:
    """The models the configured providers serve, and which provider serves each."""

    def __init__(self, providers: list[Provider]) -> None:
        self._routes: dict[str, tuple[Provider, ModelInfo]] = {}
        for provider in providers:
            for info in provider.models():
                self._routes.setdefault(info.id, (provider, info))

    def models(self) -> list[ModelInfo]:
        return [info for _, info in self._routes.values()]

    def route(self, model: str) -> tuple[Provider, ModelInfo]:
        try:
            return self._routes[model]
        except KeyError:
            raise ModelNotFound(f"model {model!r} does not exist or is not available") from None


@dataclass(frozen=True, slots=True)
class CompletionResult:
    completion: Completion
    model: ModelInfo
    created: datetime
    request_id: str


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _seconds_to_next_utc_day(at: datetime) -> int:
    tomorrow = datetime.combine(at.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((tomorrow - at).total_seconds()))


async def _take_daily_request(session: AsyncSession, account: Account, ctx: RequestContext, at: datetime):
    plan = await users.get_plan(session, account.plan_code)
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


async def _settle_failed_call(
    session: AsyncSession,
    account: Account,
    call: dict,
    error_code: str,
    started: float,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Transaction 2 (failure): give the quota back and record the failed call."""
    await session.rollback()
    await quotas.release(session, account.id, DAILY_REQUESTS, _utc_day(at))
    record(
        session,
        EventType.LLM_CALL_FAILED,
        at=at,
        ctx=ctx,
        **call,
        latency_ms=int((time.perf_counter() - started) * 1000),
        status="error",
        error_code=error_code,
    )
    await session.commit()


async def complete(
    session: AsyncSession,
    gateway: Gateway,
    account: Account,
    *,
    model: str,
    messages: list[ChatMessage],
    max_tokens: int | None,
    temperature: float | None,
    ctx: RequestContext,
    at: datetime,
) -> CompletionResult:
    provider, info = gateway.route(model)
    call = {**about(account), "model_id": info.id, "provider": provider.name}

    # Transaction 1: take the quota (atomic), committed before the provider is called.
    await _take_daily_request(session, account, ctx, at)
    await session.commit()

    started = time.perf_counter()
    try:
        completion = await provider.complete(model, messages, max_tokens=max_tokens, temperature=temperature)
    except BaseException as exc:
        # Whatever went wrong (the provider, a bug, the request being cancelled), the unit taken above is
        # given back and the failed call is recorded: nothing is charged for a call that did not happen.
        code = exc.code if isinstance(exc, ProviderError) else "internal_error"
        await _settle_failed_call(session, account, call, code, started, ctx, at)
        if isinstance(exc, ProviderError):
            log.warning("provider %s failed for model %s: %s", provider.name, info.id, exc)
            raise ProviderUnavailable(
                f"the provider of {info.id!r} failed; the call was not charged"
            ) from exc
        raise
    latency_ms = int((time.perf_counter() - started) * 1000)

    # Transaction 2 (success): record the call with its tokens and its cost at the price in force.
    event = record(
        session,
        EventType.LLM_CALL_SUCCEEDED,
        at=at,
        ctx=ctx,
        **call,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        cost_usd=info.cost_usd(completion.input_tokens, completion.output_tokens),
        latency_ms=latency_ms,
        status="ok",
    )
    await session.flush()
    request_id = f"chatcmpl-{event.event_id.hex}"
    await session.commit()
    return CompletionResult(completion, info, at, request_id)
