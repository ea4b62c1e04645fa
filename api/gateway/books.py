"""A completion's bookkeeping behind one seam: take, settle, refund.

- `take`: transaction 1, before any provider is called: the most tokens the call can use reserved in the
  day's and the month's token quotas, the day's request, the chat's message slots and the credits'
  reservation (the price of those tokens), committed together; a refusal takes nothing.
- `settle`: transaction 2 of a call that answered (streamed or not): the real cost charged against the
  reservation, the tokens' reservation turned into the tokens used, the chat's messages kept, the events
  written.
- `refund`: transaction 2 of a call that did not: the request, the tokens, the chat's slots and the
  credits given back, the failure recorded.

A paid call's reservation ends once: `settle` and `refund` claim it (`reservation_settlements`) before
they move credits, as the recovery job does (api/billing/recovery.py); whoever comes second changes
nothing ([0030](../../docs/decisions/0030-settlement-claims-and-drained-streams.md)).

Two implementations, chosen once when the app starts (`Gateway.open`):

- `PortableBooks` (here): through the ORM session, on SQLite and PostgreSQL;
- `FastBooks` (api/gateway/fastlane.py): PostgreSQL on asyncpg, one prepared statement per transaction
  calling the functions in api/gateway/sql/. It hands calls in a chat and every refund to a
  `PortableBooks`: those are rare.

The two write the same rows: tests/api/gateway/test_fast_lane.py plays one scenario both ways and compares
them, every column of `usage_events` included ([0027](../../docs/decisions/0027-one-bookkeeping-seam.md)).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.billing import service as billing
from api.billing.service import CreditRate
from api.cache import service as response_cache
from api.cache.models import CachedResponse
from api.cache.service import CacheCall
from api.catalogue.service import ModelSpec, PlanSpec
from api.chats import repository as chats
from api.chats.models import Chat, Message
from api.core.errors import AppError, QuotaExceeded
from api.core.settings import Settings
from api.events.outbox import RequestContext, record
from api.events.types import EventType
from api.gateway.bounds import UsageBound
from api.notifications import notify
from api.providers.base import CallParams, ChatMessage, ProviderError
from api.providers.mock import count_tokens
from api.quotas import repository as quotas
from api.quotas.windows import DAILY_REQUESTS, token_counts, utc_day
from api.system.error_log import note_provider_failure

log = logging.getLogger("aiadmin.gateway")


class ChatNotFound(AppError):
    status_code = 404
    code = "chat_not_found"


class ChatLimitReached(QuotaExceeded):
    code = "chat_limit_reached"


class ChatMessageLimitReached(QuotaExceeded):
    code = "chat_message_limit_reached"


@dataclass(frozen=True, slots=True)
class Quota:
    """A plan's limit of one metric in the window `at` falls in (None: counted, with no limit)."""

    metric: str
    window_start: date
    limit: int | None


@dataclass(frozen=True, slots=True)
class Taken:
    """What transaction 1 did, or why it took nothing: a used-up quota (`refused`), a balance too low
    (`insufficient`) or the chat's refusal (`refusal`); the balance after the reservation, if one was made,
    and whether the call's first message made its chat."""

    refused: Quota | None = None
    insufficient: bool = False
    refusal: AppError | None = None
    balance: Decimal | None = None
    chat_created: bool = False


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


@dataclass(frozen=True, slots=True)
class Prepared:
    """A call that passed every check, with its quota taken and its credits reserved (committed)."""

    spec: ModelSpec
    params: CallParams
    messages: list[ChatMessage]
    call: dict
    charge: Charge
    reference: uuid.UUID
    bound: UsageBound  # the most tokens the call can use: reserved in the token quotas
    chat_id: uuid.UUID | None = None
    chat_created: bool = False
    role_version: int | None = None  # the version of the call's role (none: no role), on its success event
    cache: CacheCall | None = None  # the response cache's part in the call (None: off for it)
    hit: CachedResponse | None = None  # the kept answer that served the call: no provider is called
    # The call's experiment and variant (docs/decisions/0059) and the model alias it named (0062), on its
    # success or failure event; None: none.
    experiment: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A call that answered: what its `llm.call_succeeded` says, and the answer (kept in its chat)."""

    provider: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_ms: int
    answer: str
    status: str = "ok"  # ok | disconnected (a stream whose client left after the first token)
    error_code: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    # The USD the credits are charged for, when not `cost_usd`: a cache hit that costs credits (its stored
    # cost) while no provider was paid (`cost_usd` 0).
    charge_usd: Decimal | None = None

    @property
    def charged_usd(self) -> Decimal:
        return self.cost_usd if self.charge_usd is None else self.charge_usd

    def event(self, prepared: Prepared) -> dict[str, Any]:
        """The fields of the call's `llm.call_succeeded` (its credits aside: the settlement knows them)."""
        return {
            **prepared.call,
            "event_id": prepared.reference,
            "provider": self.provider,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "error_code": self.error_code,
            # The role's version joins in properties (the columns are the contract's, extended rarely): what
            # feedback on the call is counted by (docs/decisions/0054).
            "properties": {
                **self.properties,
                **({} if prepared.role_version is None else {"role_version": prepared.role_version}),
                **(prepared.experiment or {}),
            },
        }


class Books(Protocol):
    """A completion's bookkeeping. Each method is one transaction, committed before it returns."""

    async def take(
        self,
        session: AsyncSession,
        account: Account,
        *,
        plan: PlanSpec | None,
        tokens: list[Quota],
        requests: Quota | None,
        reserve_tokens: int,
        reserve: Decimal | None,
        reference: str,
        model_id: str,
        chat_id: uuid.UUID | None,
        messages: list[ChatMessage],
        at: datetime,
        role_id: str | None = None,
    ) -> Taken:
        """Transaction 1: reserve `reserve_tokens` in each of the token quotas `tokens` (refused if one has
        no room for them), take the day's request (`requests` None: no limit), the chat's two message slots
        (making the chat on its first message, `role_id` its role), and reserve the credits (`reserve`
        None: a free call). A refusal takes nothing and commits nothing: the caller records it in
        `session`."""
        ...

    async def settle(
        self,
        session: AsyncSession,
        account: Account,
        prepared: Prepared,
        outcome: Outcome,
        ctx: RequestContext,
        at: datetime,
    ) -> None:
        """Transaction 2 of a call that answered: claim the reservation (a paid call whose reservation was
        already ended changes nothing), refund the unused credits or take the rest (never below zero),
        turn the tokens' reservation into the tokens used, keep the chat's messages, write
        `balance.charged` (a paid call), the chat's events and `llm.call_succeeded`; notify balance_low if
        the call crossed it."""
        ...

    async def refund(
        self,
        session: AsyncSession,
        account: Account,
        prepared: Prepared,
        error: BaseException,
        started: float,
        ctx: RequestContext,
        at: datetime,
    ) -> None:
        """Transaction 2 of a call that did not answer: claim the reservation (as `settle`), give the
        request, the tokens, the chat's slots and the credits back, note a provider's failure, write
        `balance.refunded` (a paid call) and `llm.call_failed`."""
        ...

    async def cached(self, session: AsyncSession, call: CacheCall, at: datetime) -> CachedResponse | None:
        """The response cache's answer kept for `call`, unless it expired by `at` (docs/decisions/0057)."""
        ...

    async def keep(self, session: AsyncSession, row: dict[str, Any], *, max_entries: int, trim: bool) -> None:
        """Keep an answer (`row`: api/cache/service.py `kept_row`) for the next identical request, then,
        when `trim`, bound the table. Its own transaction; a failure is logged, never the call's."""
        ...


class PortableBooks:
    """The bookkeeping through the ORM session: billing's ledger, the quota counters, the outbox."""

    async def take(
        self,
        session: AsyncSession,
        account: Account,
        *,
        plan: PlanSpec | None,
        tokens: list[Quota],
        requests: Quota | None,
        reserve_tokens: int,
        reserve: Decimal | None,
        reference: str,
        model_id: str,
        chat_id: uuid.UUID | None,
        messages: list[ChatMessage],
        at: datetime,
        role_id: str | None = None,
    ) -> Taken:
        for quota in [*tokens, *([requests] if requests else [])]:
            amount = 1 if quota is requests else reserve_tokens
            if (
                await quotas.try_consume(
                    session, account.id, quota.metric, quota.window_start, quota.limit, amount
                )
                is None
            ):
                await session.rollback()
                return Taken(refused=quota)
        chat_created, balance = False, None
        try:
            if chat_id:
                chat_created = await _take_chat(session, account, plan, chat_id, messages, at, role_id)
        except (ChatLimitReached, ChatMessageLimitReached, ChatNotFound) as refusal:
            await session.rollback()
            return Taken(refusal=refusal)
        if reserve is not None:
            balance = await billing.move(
                session, account.id, -reserve, kind="charge", at=at, reference=reference,
                details=reservation_details(model_id, reserve_tokens),
            )  # fmt: skip
            if balance is None:
                await session.rollback()
                return Taken(insufficient=True)
        await session.commit()
        return Taken(balance=balance, chat_created=chat_created)

    async def settle(
        self,
        session: AsyncSession,
        account: Account,
        prepared: Prepared,
        outcome: Outcome,
        ctx: RequestContext,
        at: datetime,
    ) -> None:
        if not await _claim(session, account, prepared, "settled", at):
            return
        # The quota rows before the account's, in the order `take` locks them (no deadlock between the two).
        used = outcome.input_tokens + outcome.output_tokens
        await quotas.add(session, account.id, token_counts(used - prepared.bound.total, at))
        credits = await _settle_charge(
            session, account, prepared.call, prepared.charge, outcome.charged_usd, ctx, at
        )
        await _store_outcome(session, account, prepared, outcome, ctx, at)
        record(
            session, EventType.LLM_CALL_SUCCEEDED, at=at, ctx=ctx, **outcome.event(prepared), credits=credits
        )
        await session.commit()

    async def refund(
        self,
        session: AsyncSession,
        account: Account,
        prepared: Prepared,
        error: BaseException,
        started: float,
        ctx: RequestContext,
        at: datetime,
    ) -> None:
        call, charge = prepared.call, prepared.charge
        await session.rollback()
        if not await _claim(session, account, prepared, "refunded", at):
            return
        # The rows in the order `take` locks them: the tokens, the day's request, then the account.
        await quotas.add(session, account.id, token_counts(-prepared.bound.total, at))
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
            # The call's reference (a success's event id) and request id, so that the request explorer and
            # the error log find a failed call by either (docs/decisions/0043-request-explorer.md).
            properties={
                "reference": prepared.reference.hex,
                **(prepared.experiment or {}),
                **({"request_id": ctx.request_id} if ctx.request_id else {}),
                **({"attempts": attempts} if attempts else {}),
            },
        )
        await session.commit()

    async def cached(self, session: AsyncSession, call: CacheCall, at: datetime) -> CachedResponse | None:
        return await response_cache.lookup(session, call, at)

    async def keep(self, session: AsyncSession, row: dict[str, Any], *, max_entries: int, trim: bool) -> None:
        await response_cache.store(session, row, max_entries=max_entries, trim=trim)


def reservation_details(model_id: str, tokens: int) -> dict[str, Any]:
    """The reservation's ledger details: the model, and the tokens reserved with it (given back with the
    credits if its settlement is lost)."""
    return {"reserved": True, "model": model_id, "tokens": tokens}


async def _claim(session: AsyncSession, account: Account, prepared: Prepared, outcome: str, at) -> bool:
    """End a paid call's reservation as `outcome`; False (and the session rolled back) if it was already
    ended: by the recovery job, when the call outlived the grace period."""
    charge = prepared.charge
    if charge.rate is None:
        return True
    if await billing.claim_reservation(session, charge.reference, account.id, outcome, at):
        return True
    await session.rollback()
    log.warning("reservation %s was already ended: the call's %s changed nothing", charge.reference, outcome)
    return False


async def _take_chat(
    session: AsyncSession,
    account: Account,
    plan: PlanSpec | None,
    chat_id: uuid.UUID,
    messages,
    at: datetime,
    role_id: str | None,
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
                role_id=role_id,
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


async def _settle_charge(
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
    await watch_balance(session, account, charge, actual, at)
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


async def _store_outcome(
    session: AsyncSession, account: Account, prepared: Prepared, outcome: Outcome, ctx: RequestContext, at
) -> None:
    """In a chat, keep its two messages and write its events."""
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
                content=outcome.answer,
                tokens=outcome.output_tokens,
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


async def watch_balance(
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
