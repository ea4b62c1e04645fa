"""Chat completions: quota in one transaction, the provider calls outside any, the outcome in a second.

Providers serving the model are tried in priority order; each gets its retries and its timeout; a
retryable failure (connection, timeout, 5xx, 429) moves on to the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.billing import service as billing
from api.billing.service import CreditRate, InsufficientBalance
from api.catalogue.service import Catalogue, CatalogueCache, ModelRequired, ModelSpec, PlanSpec
from api.chats import repository as chats
from api.chats.models import Chat, Message
from api.core.errors import AppError, ProviderUnavailable, QuotaExceeded
from api.core.settings import Settings
from api.events.outbox import RequestContext, about, event_row, record
from api.events.types import EventType
from api.gateway.fastlane import Books, Quota
from api.notifications import notify
from api.providers.base import CallParams, ChatMessage, Completion, ProviderError
from api.providers.mock import count_prompt_tokens, count_tokens
from api.providers.pool import ProviderPool
from api.quotas import repository as quotas
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
from api.system.error_log import note_provider_failure

log = logging.getLogger("aiadmin.gateway")


class ChatNotFound(AppError):
    status_code = 404
    code = "chat_not_found"


class ChatLimitReached(QuotaExceeded):
    code = "chat_limit_reached"


class ChatMessageLimitReached(QuotaExceeded):
    code = "chat_message_limit_reached"


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
        # The fast lane: PostgreSQL's bookkeeping on asyncpg (opened by the app's lifespan; None on SQLite).
        self.books: Books | None = None
        self.settlements: set[asyncio.Task] = set()  # streams being settled after they ended

    async def open(self) -> None:
        if self.settings.fast_lane and not self.settings.is_sqlite:
            books = Books(self.settings)
            await books.open()
            self.books = books

    async def aclose(self) -> None:
        if self.settlements:
            await asyncio.gather(*self.settlements, return_exceptions=True)
        await self.pool.aclose()
        if self.books is not None:
            await self.books.close()
            self.books = None


@dataclass(frozen=True, slots=True)
class CompletionResult:
    completion: Completion
    model: ModelSpec
    provider: str
    created: datetime
    request_id: str


@dataclass(frozen=True, slots=True)
class LowBalanceWatch:
    """The balance_low rule, watching one paid call: it fires if the call takes the balance from at least
    the threshold to below it. (Concurrent calls of one account each judge from their own reservation.)"""

    threshold: Decimal
    balance_before: Decimal
    settings: Settings

    def crossed(self, spent: Decimal) -> bool:
        return self.balance_before >= self.threshold > self.balance_before - spent


@dataclass(frozen=True, slots=True)
class Charge:
    """The credits reserved for one call of a paid model (zero for free-tier models)."""

    reference: str
    reserved: Decimal
    rate: CreditRate | None
    watch: LowBalanceWatch | None = None


def _worst_case(
    spec: ModelSpec, rate: CreditRate, messages, params: CallParams, at: datetime
) -> Decimal | None:
    """The credits to reserve for a call (the prompt as counted here, the most tokens the answer may have);
    None for a free-tier model."""
    if spec.tier != "paid":
        return None
    worst_output = params.max_tokens or spec.max_output_tokens
    return rate.credits_for_usd(spec.cost_usd(at, count_prompt_tokens(messages), worst_output))


async def _reserve(
    session: AsyncSession, account: Account, reserved: Decimal, reference: str, model_id: str, at: datetime
) -> Decimal:
    """Take the reservation; the balance after it."""
    taken = await billing.move(
        session,
        account.id,
        -reserved,
        kind="charge",
        at=at,
        reference=reference,
        details={"reserved": True, "model": model_id},
    )
    if taken is None:
        raise _insufficient(reserved)
    return taken


def _insufficient(reserved: Decimal) -> InsufficientBalance:
    return InsufficientBalance(f"this call may cost up to {reserved} credits: top up your balance")


def _request_quota(plan: PlanSpec | None, at: datetime) -> Quota | None:
    """The day's completions the plan allows (no plan: none; None: no limit)."""
    limit = plan.daily_requests if plan else 0
    return None if limit is None else Quota(DAILY_REQUESTS, utc_day(at), limit)


def _token_quotas(plan: PlanSpec | None, at: datetime) -> list[Quota]:
    if plan is None:
        return []
    return [
        Quota(metric, window, limit)
        for metric, window, limit in (
            (DAILY_TOKENS, utc_day(at), plan.tokens_per_day),
            (MONTHLY_TOKENS, month_start(at), plan.tokens_per_month),
        )
        if limit is not None
    ]


async def _refuse_limit(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    quota: Quota,
    ctx: RequestContext,
    at: datetime,
) -> NoReturn:
    """Refuse on the plan's used-up `quota` (the day's completions, or the day's or month's tokens)."""
    plan = account.plan_code
    if quota.metric == DAILY_REQUESTS:
        code, resets = QuotaExceeded.code, next_day(at)
        message = f"plan {plan!r} allows {quota.limit} completions per UTC day; try again tomorrow"
    else:
        period, resets = ("day", next_day(at)) if quota.metric == DAILY_TOKENS else ("month", next_month(at))
        code = "token_quota_exceeded"
        message = f"plan {plan!r} allows {quota.limit} tokens per {period}: wait for the reset"
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


async def settle_failed_call(
    session: AsyncSession,
    account: Account,
    prepared: Prepared,
    error: BaseException,
    started: float,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Transaction 2 (failure): give the quota, the chat's slots and the credits back, record the failure."""
    call, charge = prepared.call, prepared.charge
    await session.rollback()
    await quotas.release(session, account.id, DAILY_REQUESTS, utc_day(at))
    if prepared.chat_id is not None:
        if prepared.chat_created:  # a chat is made by its first message: no message, no chat
            await chats.delete_own(session, account.id, prepared.chat_id)
        else:
            await chats.give_back_message_slots(session, prepared.chat_id, 2)
    if charge.reserved:
        await billing.move(
            session,
            account.id,
            charge.reserved,
            kind="refund",
            at=at,
            reference=charge.reference,
            details={"reason": "call_failed"},
        )
        record(
            session,
            EventType.BALANCE_REFUNDED,
            at=at,
            ctx=ctx,
            **call,
            credits=charge.reserved,
            status="ok",
            properties={"reference": charge.reference},
        )
    attempts = getattr(error, "attempts", None)
    if isinstance(error, ProviderError):
        await note_provider_failure(
            session,
            request_id=ctx.request_id,
            account_id=account.id,
            error_code=error.code,
            message=str(error),
            details={"model": prepared.spec.id, "attempts": attempts or []},
        )
    record(
        session,
        EventType.LLM_CALL_FAILED,
        at=at,
        ctx=ctx,
        **call,
        provider=attempts[-1]["provider"] if attempts else None,
        latency_ms=int((time.perf_counter() - started) * 1000),
        status="error",
        error_code=getattr(error, "code", None) or "internal_error",
        properties={"attempts": attempts} if attempts else {},
    )
    await session.commit()


def _first(*values):
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A call that passed every check, with its quota taken and its credits reserved (committed)."""

    spec: ModelSpec
    params: CallParams
    messages: list[ChatMessage]
    call: dict
    charge: Charge
    reference: uuid.UUID
    chat_id: uuid.UUID | None = None
    chat_created: bool = False


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
) -> Prepared:
    """Resolve role, model and parameters, then transaction 1: take the quota and reserve the credits."""
    catalogue = await gateway.catalogue.get(session)
    persona = catalogue.role(role) if role else None
    model = model or (persona.default_model if persona else None)
    if not model:
        raise ModelRequired("name a `model` (or an assistant role that has a default model)")
    plan = catalogue.plan(account.plan_code)
    spec = catalogue.callable(model, plan.tiers if plan else frozenset(), account.plan_code)
    if max_tokens is not None and max_tokens > spec.max_output_tokens:
        raise MaxTokensTooLarge(f"{spec.id!r} writes at most {spec.max_output_tokens} tokens per answer")
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
    call = {
        **about(account),
        "model_id": spec.id,
        "role_id": persona.id if persona else None,
        "chat_id": chat_id,
    }

    # Transaction 1: take the quota, the chat's message slots and the credits (each atomic), committed
    # before any provider is called; a refusal of any leaves nothing taken.
    reference = uuid.uuid4()
    reserved = _worst_case(spec, catalogue.credit_rate, messages, params, at)
    tokens, requests = _token_quotas(plan, at), _request_quota(plan, at)
    settings, chat_created = gateway.settings, False
    if gateway.books is not None and chat_id is None:  # the fast lane (PostgreSQL)
        taken = await gateway.books.take(
            account.id, tokens=tokens, requests=requests, reserve=reserved, reference=reference.hex,
            model_id=spec.id, at=at,
        )  # fmt: skip
        if taken.refused is not None:
            await _refuse_limit(session, settings, account, taken.refused, ctx, at)
        if taken.insufficient:
            await _refused(session, call, _insufficient(reserved), ctx, at)
        balance = taken.balance
    else:
        for quota in tokens:
            if await quotas.used(session, account.id, quota.metric, quota.window_start) >= quota.limit:
                await _refuse_limit(session, settings, account, quota, ctx, at)
        if (
            requests is not None
            and await quotas.try_consume(
                session, account.id, requests.metric, requests.window_start, requests.limit
            )
            is None
        ):
            await _refuse_limit(session, settings, account, requests, ctx, at)
        try:
            if chat_id:
                chat_created = await _take_chat(session, account, plan, chat_id, messages, at)
            balance = None if reserved is None else await _reserve(
                session, account, reserved, reference.hex, spec.id, at
            )  # fmt: skip
        except (InsufficientBalance, ChatLimitReached, ChatMessageLimitReached, ChatNotFound) as refusal:
            await _refused(session, call, refusal, ctx, at)
        await session.commit()
    charge = _charge(reference.hex, reserved, catalogue, balance, settings)
    return Prepared(spec, params, messages, call, charge, reference, chat_id, chat_created)


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


async def _take_chat(
    session: AsyncSession, account: Account, plan: PlanSpec | None, chat_id: uuid.UUID, messages, at: datetime
) -> bool:
    """The chat the call goes to (made on its first message) with room for its two messages; whether
    it was made now."""
    created = False
    if await chats.get_own(session, account.id, chat_id) is None:
        if await chats.exists(session, chat_id):
            raise ChatNotFound("no such chat")
        if (
            plan
            and plan.max_chats is not None
            and await chats.count_own(session, account.id) >= plan.max_chats
        ):
            raise ChatLimitReached(
                f"plan {account.plan_code!r} keeps at most {plan.max_chats} chats: delete one"
            )
        first = next((m.content for m in reversed(messages) if m.role == "user"), "New chat")
        session.add(
            Chat(
                id=chat_id,
                account_id=account.id,
                title=first[:80],
                message_count=0,
                created_at=at,
                updated_at=at,
            )
        )
        await session.flush()
        created = True
    limit = plan.max_messages_per_chat if plan else None
    if not await chats.take_message_slots(session, chat_id, 2, limit, at):
        raise ChatMessageLimitReached(f"a chat on plan {account.plan_code!r} holds at most {limit} messages")
    return created


async def store_outcome(
    session: AsyncSession,
    account: Account,
    prepared: Prepared,
    *,
    input_tokens: int,
    output_tokens: int,
    answer: str,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """Transaction 2 (success), beside the call's own event: count the tokens, keep the chat's messages."""
    total = input_tokens + output_tokens
    await quotas.add(
        session, account.id, [(DAILY_TOKENS, utc_day(at), total), (MONTHLY_TOKENS, month_start(at), total)]
    )
    if prepared.chat_id is None:
        return
    asked = next((m.content for m in reversed(prepared.messages) if m.role == "user"), "")
    session.add_all(
        [
            Message(
                chat_id=prepared.chat_id,
                role="user",
                content=asked,
                tokens=count_tokens(asked),
                created_at=at,
            ),
            Message(
                chat_id=prepared.chat_id,
                role="assistant",
                content=answer,
                tokens=output_tokens,
                model_id=prepared.spec.id,
                created_at=at,
            ),
        ]
    )
    if prepared.chat_created:
        record(session, EventType.CHAT_CREATED, at=at, ctx=ctx, **prepared.call, status="ok")
    record(
        session,
        EventType.MESSAGE_SENT,
        at=at,
        ctx=ctx,
        **prepared.call,
        input_tokens=count_tokens(asked),
        status="ok",
    )


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
    spec, params, messages, call, charge, reference = (
        prepared.spec,
        prepared.params,
        prepared.messages,
        prepared.call,
        prepared.charge,
        prepared.reference,
    )
    started = time.perf_counter()
    try:
        completion, provider_id, attempts = await call_with_fallback(gateway.pool, spec, messages, params)
    except BaseException as exc:
        # Whatever went wrong (the providers, a bug, the request being cancelled), the unit taken above is
        # given back and the failed call is recorded: nothing is charged for a call that did not happen.
        await settle_failed_call(session, account, prepared, exc, started, ctx, at)
        if isinstance(exc, ProviderError):
            log.warning("model %s: providers failed: %s", spec.id, exc)
            raise ProviderUnavailable(
                f"the providers of {spec.id!r} failed; the call was not charged"
            ) from exc
        raise
    latency_ms = int((time.perf_counter() - started) * 1000)

    # Transaction 2 (success): settle the credits to the real cost, record the call with its tokens and
    # its cost at the price in force.
    cost_usd = spec.cost_usd(at, completion.input_tokens, completion.output_tokens)
    properties = {"attempts": attempts} if attempts else {}
    if completion.usage_estimated:
        properties["usage_estimated"] = True
    succeeded = {
        **call,
        "event_id": reference,
        "provider": provider_id,
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "cost_usd": cost_usd,
        "latency_ms": latency_ms,
        "status": "ok",
        "properties": properties,
    }
    if gateway.books is not None and prepared.chat_id is None:  # the fast lane (PostgreSQL)
        await _settle_fast(
            gateway.books, session, account, prepared, completion, cost_usd, succeeded, ctx, at
        )
    else:
        credits = await settle_charge(session, account, call, charge, cost_usd, ctx, at)
        await store_outcome(
            session,
            account,
            prepared,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            answer=completion.content,
            ctx=ctx,
            at=at,
        )
        record(session, EventType.LLM_CALL_SUCCEEDED, at=at, ctx=ctx, **succeeded, credits=credits)
        await session.commit()
    return CompletionResult(completion, spec, provider_id, at, f"chatcmpl-{reference.hex}")


async def _settle_fast(
    books: Books,
    session: AsyncSession,
    account: Account,
    prepared: Prepared,
    completion: Completion,
    cost_usd: Decimal,
    succeeded: dict,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """settle_charge, store_outcome and the success event (a call outside a chat) as one transaction of
    the fast lane; then the low-balance rule, if the call crossed it, through the session."""
    charge = prepared.charge
    paid = charge.rate is not None
    called = event_row(EventType.LLM_CALL_SUCCEEDED, at=at, ctx=ctx, **succeeded)
    events = [called]
    if paid:
        charged = event_row(
            EventType.BALANCE_CHARGED, at=at, ctx=ctx, **prepared.call, status="ok",
            properties={"reference": charge.reference},
        )  # fmt: skip
        events.insert(0, charged)
    credits = await books.settle(
        account.id,
        reference=charge.reference,
        reserved=charge.reserved,
        actual=charge.rate.credits_for_usd(cost_usd) if paid else None,
        tokens=completion.input_tokens + completion.output_tokens,
        day=utc_day(at),
        month=month_start(at),
        events=events,  # their credits: what the settlement charged
        at=at,
    )
    if paid and await _watch_balance(session, account, charge, credits, at):
        await session.commit()


async def _watch_balance(
    session: AsyncSession, account: Account, charge: Charge, actual: Decimal, at: datetime
) -> bool:
    """The balance_low rule: notify (in the caller's transaction) if this call took the balance below the
    threshold. Whether it did."""
    if charge.watch is None or not charge.watch.crossed(actual):
        return False
    values = {
        "balance": f"{charge.watch.balance_before - actual:.2f}",
        "threshold": f"{charge.watch.threshold:.2f}",
    }
    await notify.notify(session, charge.watch.settings, "balance_low", account, at, values)
    return True


async def settle_charge(
    session: AsyncSession,
    account: Account,
    call: dict,
    charge: Charge,
    cost_usd: Decimal,
    ctx: RequestContext,
    at: datetime,
) -> Decimal | None:
    """Turn the reservation into the real charge: refund the difference, or take the rest (never below
    zero: what the balance cannot cover is noted, not owed). The credits charged, or None if free."""
    if charge.rate is None:
        return None
    actual = charge.rate.credits_for_usd(cost_usd)
    difference = charge.reserved - actual
    details = {"settles": charge.reference}
    if difference > 0:
        await billing.move(
            session, account.id, difference, kind="refund", at=at, reference=charge.reference, details=details
        )
    elif difference < 0:
        extra = min(-difference, await billing.balance_of(session, account.id))
        if extra > 0:
            await billing.move(
                session, account.id, -extra, kind="charge", at=at, reference=charge.reference, details=details
            )
        actual = charge.reserved + extra
    await _watch_balance(session, account, charge, actual, at)
    record(
        session,
        EventType.BALANCE_CHARGED,
        at=at,
        ctx=ctx,
        **call,
        credits=actual,
        status="ok",
        properties={"reference": charge.reference},
    )
    return actual


async def models_for(session: AsyncSession, gateway: Gateway, account: Account) -> list[ModelSpec]:
    catalogue = await gateway.catalogue.get(session)
    plan = catalogue.plan(account.plan_code)
    return catalogue.listed_for(plan.tiers if plan else frozenset())
