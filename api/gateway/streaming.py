"""Streamed completions (SSE), settled after the stream ends, however it ends.

- Providers are tried in priority order until one sends its first chunk; after that there is no fallback.
  A provider that breaks mid-stream (a reset, an in-band error, a stall, a body cut short) ends the
  client's stream with an in-band error event; its `llm.call_failed` names that provider, and the call is
  refunded.
- Usage comes from the provider's final usage chunk; without one, the call is charged the most the provider
  can have billed (api/gateway/bounds.py) and flagged (`usage_estimated`, `usage_source: bound`).
- A client that hangs up, before the first token or after, does not end the provider's work: the provider
  has read the prompt and goes on writing. The settlement reads the provider's stream on, for at most
  `drain_seconds` and the answer's token limit, to get its usage (`usage_source: provider_after_disconnect`);
  if it does not come, the stream is cancelled and the call charged the bound of the prompt plus what was
  written (`usage_source: bound`). Either way the day's request and the tokens stay taken.
- A call has a time limit (`call_max_seconds`): past it, the stream is cut (an in-band `call_time_limit`
  error) and charged like a client that left; a provider that has not started by then is refunded. The
  limit and the drain stay below the reservation's grace period (api/core/settings.py), and the settlement
  claims the reservation, so a reservation is never both refunded and settled (docs/decisions/0030).
- The settlement runs in its own session (the request's is closed by then) and in its own task, so a
  client that hangs up cannot cancel it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.responses import StreamingResponse

from api.accounts.models import Account
from api.events.outbox import RequestContext
from api.gateway.books import Books, Outcome
from api.gateway.bounds import text_floor
from api.gateway.service import (
    AllProvidersFailed,
    CallTimeLimit,
    Gateway,
    Prepared,
    ProviderError,
    cache_properties,
    keep_answer,
)
from api.providers.base import StreamChunk

log = logging.getLogger("aiadmin.gateway")
REPLAY_WORDS = 4  # a cache hit streams its answer this many words a chunk


class ClientDisconnected(Exception):
    code = "client_disconnected"


class _Watch:
    """Races each wait on the provider against the client hanging up and the call's time limit. The read
    in flight when the client hangs up is left running (`inflight`): the settlement awaits it."""

    def __init__(self, wait_disconnect: Callable[[], Awaitable[None]], max_seconds: float) -> None:
        self._gone = asyncio.ensure_future(wait_disconnect())
        self._max_seconds = max_seconds
        self._deadline = asyncio.get_running_loop().time() + max_seconds
        self.inflight: asyncio.Future | None = None

    async def __call__(self, awaitable, seconds: float):
        left = self._deadline - asyncio.get_running_loop().time()
        task = self.inflight = asyncio.ensure_future(
            asyncio.wait_for(awaitable, timeout=max(min(seconds, left), 0))
        )
        done, _ = await asyncio.wait({task, self._gone}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            raise ClientDisconnected("the client hung up")
        self.inflight = None
        try:
            return task.result()
        except TimeoutError:
            if left <= seconds:
                raise CallTimeLimit(self._max_seconds) from None
            raise

    def close(self) -> None:
        self._gone.cancel()


@dataclass
class StreamState:
    provider: str | None = None
    attempts: list[dict[str, str]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # what the provider wrote (sent, or read after a hang-up)
    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    outcome: str = "failed"  # ok | disconnected | cut (the time limit) | failed
    error: BaseException | None = None
    upstream: AsyncIterator[StreamChunk] | None = None  # the provider's stream being read
    inflight: asyncio.Future | None = None  # its read in flight when the client hung up


async def _open(gateway: Gateway, prepared: Prepared, state: StreamState, watch: _Watch):
    """The first provider that starts answering: its stream and its first chunk."""
    for route in prepared.spec.routes:
        provider = route.provider
        for _ in range(provider.max_retries + 1):
            stream = state.upstream = gateway.pool.adapter(provider).stream(
                route.provider_model, prepared.messages, prepared.params
            )
            state.provider = provider.id  # the provider reading the prompt (a hang-up is charged to it)
            try:
                first = await watch(anext(stream), provider.timeout_seconds)
                return stream, first, provider.timeout_seconds
            except TimeoutError:
                state.attempts.append({"provider": provider.id, "error": "provider_timeout"})
            except StopAsyncIteration:
                state.attempts.append({"provider": provider.id, "error": "provider_bad_response"})
            except CallTimeLimit:
                raise
            except ProviderError as exc:
                state.attempts.append({"provider": provider.id, "error": exc.code})
                if not exc.retryable:
                    state.provider = state.upstream = None
                    await stream.aclose()
                    raise
            state.provider = state.upstream = None
            await stream.aclose()
    raise AllProvidersFailed(state.attempts)


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


def _error_event(code: str, message: str) -> str:
    return _sse({"error": {"code": code, "message": message, "type": "api_error", "param": None}})


async def run(
    gateway: Gateway,
    sessionmaker: async_sessionmaker,
    account: Account,
    prepared: Prepared,
    *,
    include_usage: bool,
    wait_disconnect: Callable[[], Awaitable[None]],
    ctx: RequestContext,
    at: datetime,
) -> AsyncIterator[str]:
    state = StreamState()
    watch = _Watch(wait_disconnect, gateway.settings.call_max_seconds)
    started = time.perf_counter()
    base = {
        "id": f"chatcmpl-{prepared.reference.hex}",
        "object": "chat.completion.chunk",
        "created": int(at.timestamp()),
        "model": prepared.spec.id,
    }
    try:
        stream, chunk, timeout = await _open(gateway, prepared, state, watch)
        yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        while chunk is not None:
            _take(state, chunk)
            if chunk.text:
                yield _sse(
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {"content": chunk.text}, "finish_reason": None}],
                    }
                )
            try:
                chunk = await watch(anext(stream), timeout)
            except StopAsyncIteration:
                chunk = None
            except CallTimeLimit:
                raise
            except TimeoutError as exc:
                raise ProviderError("the provider stalled mid-stream", code="provider_timeout") from exc
        state.outcome = "ok"
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": state.finish_reason}]})
        if include_usage:
            input_tokens, output_tokens, _ = _usage(state, prepared)
            usage = {"prompt_tokens": input_tokens, "completion_tokens": output_tokens}
            usage["total_tokens"] = input_tokens + output_tokens
            yield _sse({**base, "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"
    except CallTimeLimit as exc:
        if state.sent:  # cut mid-answer: charged for what the provider wrote, as a client that left
            state.outcome = "cut"
            message = f"the answer was cut at the call's time limit ({exc}); it is charged as far as it went"
        else:
            state.error = exc
            state.attempts.append({"provider": state.provider, "error": exc.code})
            message = f"{exc}; the call was not charged"
        yield _error_event(exc.code, message)
    except ProviderError as exc:
        state.error = exc
        if state.provider is not None:  # it broke after its first chunk: the failure names who broke it
            state.attempts.append({"provider": state.provider, "error": exc.code})
        log.warning("model %s: stream failed: %s", prepared.spec.id, exc)
        yield _error_event(
            "provider_error", f"the providers of {prepared.spec.id!r} failed; the call was not charged"
        )
    except (ClientDisconnected, asyncio.CancelledError, GeneratorExit):
        state.outcome = "disconnected"
        state.inflight = watch.inflight
        if not isinstance(sys.exc_info()[1], ClientDisconnected):
            raise
    except Exception as exc:  # a bug: the client's stream ends, the call is settled as failed
        state.error = exc
        raise
    finally:
        watch.close()
        # Settle in a task of its own: a cancelled request (the client hung up) cannot interrupt it.
        task = asyncio.get_running_loop().create_task(
            _settle(gateway, sessionmaker, account, prepared, state, started, ctx, at)
        )
        gateway.settlements.add(task)
        task.add_done_callback(gateway.settlements.discard)
        await asyncio.shield(task)


def _take(state: StreamState, chunk: StreamChunk) -> None:
    if chunk.text:
        state.sent.append(chunk.text)
    if chunk.finish_reason:
        state.finish_reason = chunk.finish_reason
    if chunk.input_tokens is not None:
        state.input_tokens, state.output_tokens = chunk.input_tokens, chunk.output_tokens


def _usage(state: StreamState, prepared: Prepared) -> tuple[int, int, str | None]:
    """Tokens in and out, and where they come from (`usage_source`): the provider's report (None; or
    `provider_after_disconnect`, read on after a hang-up), else the most it can have billed (`bound`)."""
    if state.input_tokens is not None and state.outcome in ("ok", "disconnected"):
        source = "provider_after_disconnect" if state.outcome == "disconnected" else None
        return state.input_tokens, state.output_tokens, source
    return *prepared.bound.billed("".join(state.sent)), "bound"


async def _drain(state: StreamState, prepared: Prepared, seconds: float) -> None:
    """After a hang-up: read the provider's stream on, for at most `seconds` and until it has written more
    than the answer's token limit, for its usage report. The stream is closed either way."""
    upstream = state.upstream
    if upstream is None:
        return
    limit = prepared.bound.output_tokens
    try:
        async with asyncio.timeout(seconds):
            chunk = await state.inflight if state.inflight is not None else await anext(upstream)
            while chunk is not None:
                _take(state, chunk)
                if state.input_tokens is not None or text_floor("".join(state.sent)) > limit:
                    break
                chunk = await anext(upstream, None)
    except ProviderError as exc:
        if not state.sent:  # it failed before writing anything: it did not serve the call
            state.outcome, state.error = "failed", exc
            state.attempts.append({"provider": state.provider, "error": exc.code})
        log.info("model %s: stream failed after the client left: %s", prepared.spec.id, exc)
    except (TimeoutError, StopAsyncIteration, asyncio.CancelledError) as exc:
        log.info("model %s: stream not read to its usage after the client left: %r", prepared.spec.id, exc)
    finally:
        state.inflight = None
        await _close(state)


async def _settle(
    gateway: Gateway,
    sessionmaker: async_sessionmaker,
    account: Account,
    prepared: Prepared,
    state: StreamState,
    started: float,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """The stream's transaction 2, through the same books as a call that is not streamed. A call the
    provider failed is refunded; one that answered, was cut or whose client left is charged."""
    books: Books = gateway.books
    if state.outcome == "disconnected":
        await _drain(state, prepared, gateway.settings.drain_seconds)
    elif state.upstream is not None and state.outcome != "ok":
        await _close(state)
    async with sessionmaker() as session:
        if state.outcome == "failed":
            error = state.error or ProviderError("the stream ended without an answer")
            if state.attempts and not isinstance(error, AllProvidersFailed):
                error.attempts = state.attempts
            await books.refund(session, account, prepared, error, started, ctx, at)
            return
        input_tokens, output_tokens, source = _usage(state, prepared)
        properties = {
            "stream": True, **cache_properties(prepared),
            **({"attempts": state.attempts} if state.attempts else {}),
        }  # fmt: skip
        if source == "bound":
            properties["usage_estimated"] = True
        if source:
            properties["usage_source"] = source
        status, error_code = {
            "ok": ("ok", None),
            "disconnected": ("disconnected", ClientDisconnected.code),
            "cut": ("ok", CallTimeLimit.code),
        }[state.outcome]
        outcome = Outcome(
            provider=state.provider,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=prepared.spec.cost_usd(at, input_tokens, output_tokens),
            latency_ms=int((time.perf_counter() - started) * 1000),
            answer="".join(state.sent),
            status=status,
            error_code=error_code,
            properties=properties,
        )
        await books.settle(session, account, prepared, outcome, ctx, at)
        if state.outcome == "ok":  # a whole answer only: never one cut short or left by its client
            await keep_answer(session, gateway, prepared, outcome, state.finish_reason, at)


async def replay(prepared: Prepared, *, include_usage: bool, at: datetime) -> AsyncIterator[str]:
    """A cache hit streamed as a live answer is (settled already, in `prepare`): the role chunk, the
    stored answer a few words a chunk, the finish reason, the usage if asked for, `[DONE]`."""
    hit = prepared.hit
    base = {
        "id": f"chatcmpl-{prepared.reference.hex}",
        "object": "chat.completion.chunk",
        "created": int(at.timestamp()),
        "model": prepared.spec.id,
    }
    yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
    words = re.findall(r"\S+\s*|\s+", hit.answer)
    for start in range(0, len(words), REPLAY_WORDS):
        text = "".join(words[start : start + REPLAY_WORDS])
        yield _sse({**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
    yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": hit.finish_reason}]})
    if include_usage:
        usage = {"prompt_tokens": hit.input_tokens, "completion_tokens": hit.output_tokens}
        usage["total_tokens"] = hit.input_tokens + hit.output_tokens
        yield _sse({**base, "choices": [], "usage": usage})
    yield "data: [DONE]\n\n"


async def _close(state: StreamState) -> None:
    upstream, state.upstream = state.upstream, None
    try:
        await upstream.aclose()
    except (RuntimeError, ProviderError):  # a read still running, a provider erring on the way out
        pass


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body generator however the response ends (Starlette leaves it open when a send fails),
    so the stream's `finally` and its settlement run at once."""

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()
