"""Streamed completions (SSE), settled after the stream ends, however it ends.

- Providers are tried in priority order until one sends its first chunk; after that there is no fallback.
  A provider that breaks mid-stream (a reset, an in-band error, a stall, a body cut short) ends the
  client's stream with an in-band error event; its `llm.call_failed` names that provider.
- Usage comes from the provider's final usage chunk; without one it is counted here and flagged.
- The settlement runs in its own session (the request's is closed by then) and in its own task, so a
  client that hangs up cannot cancel it: a client that leaves before the first token pays nothing, one
  that leaves mid-stream pays for what it received, a provider that breaks mid-stream is refunded.
"""

from __future__ import annotations

import asyncio
import json
import logging
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
from api.gateway.service import AllProvidersFailed, Gateway, Prepared, ProviderError
from api.providers.base import StreamChunk
from api.providers.mock import count_prompt_tokens, count_tokens

log = logging.getLogger("aiadmin.gateway")


class ClientDisconnected(Exception):
    code = "client_disconnected"


class _Watch:
    """Races each wait on the provider against the client hanging up."""

    def __init__(self, wait_disconnect: Callable[[], Awaitable[None]]) -> None:
        self._gone = asyncio.ensure_future(wait_disconnect())

    async def __call__(self, awaitable, seconds: float):
        task = asyncio.ensure_future(asyncio.wait_for(awaitable, timeout=seconds))
        done, _ = await asyncio.wait({task, self._gone}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        raise ClientDisconnected("the client hung up")

    def close(self) -> None:
        self._gone.cancel()


@dataclass
class StreamState:
    provider: str | None = None
    attempts: list[dict[str, str]] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    outcome: str = "failed"  # ok | disconnected | failed
    error: BaseException | None = None


async def _open(gateway: Gateway, prepared: Prepared, state: StreamState, watch: _Watch):
    """The first provider that starts answering: its stream and its first chunk."""
    for route in prepared.spec.routes:
        provider = route.provider
        for _ in range(provider.max_retries + 1):
            stream = gateway.pool.adapter(provider).stream(
                route.provider_model, prepared.messages, prepared.params
            )
            try:
                first = await watch(anext(stream), provider.timeout_seconds)
                state.provider = provider.id
                return stream, first, provider.timeout_seconds
            except TimeoutError:
                state.attempts.append({"provider": provider.id, "error": "provider_timeout"})
            except StopAsyncIteration:
                state.attempts.append({"provider": provider.id, "error": "provider_bad_response"})
            except ProviderError as exc:
                state.attempts.append({"provider": provider.id, "error": exc.code})
                if not exc.retryable:
                    await stream.aclose()
                    raise
            await stream.aclose()
    raise AllProvidersFailed(state.attempts)


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


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
    watch = _Watch(wait_disconnect)
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
    except ProviderError as exc:
        state.error = exc
        if state.provider is not None:  # it broke after its first chunk: the failure names who broke it
            state.attempts.append({"provider": state.provider, "error": exc.code})
        log.warning("model %s: stream failed: %s", prepared.spec.id, exc)
        message = f"the providers of {prepared.spec.id!r} failed; the call was not charged"
        yield _sse(
            {"error": {"code": "provider_error", "message": message, "type": "api_error", "param": None}}
        )
    except (ClientDisconnected, asyncio.CancelledError, GeneratorExit):
        state.outcome = "disconnected"
        if not isinstance(sys.exc_info()[1], ClientDisconnected):
            raise
    except Exception as exc:  # a bug: the client's stream ends, the call is settled as failed
        state.error = exc
        raise
    finally:
        watch.close()
        # Settle in a task of its own: a cancelled request (the client hung up) cannot interrupt it.
        task = asyncio.get_running_loop().create_task(
            _settle(gateway.books, sessionmaker, account, prepared, state, started, ctx, at)
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


def _usage(state: StreamState, prepared: Prepared) -> tuple[int, int, bool]:
    """Tokens in and out: the provider's report of a finished stream, else counted here (estimated)."""
    if state.outcome == "ok" and state.input_tokens is not None:
        return state.input_tokens, state.output_tokens, False
    return count_prompt_tokens(prepared.messages), count_tokens("".join(state.sent)), True


async def _settle(
    books: Books,
    sessionmaker: async_sessionmaker,
    account: Account,
    prepared: Prepared,
    state: StreamState,
    started: float,
    ctx: RequestContext,
    at: datetime,
) -> None:
    """The stream's transaction 2, through the same books as a call that is not streamed."""
    async with sessionmaker() as session:
        received_something = bool(state.sent)
        if state.outcome == "failed" or not received_something:
            error = state.error or ClientDisconnected("the client left before the first token")
            if state.outcome == "disconnected":
                error = ClientDisconnected("the client left before the first token")
            if state.attempts and not isinstance(error, AllProvidersFailed):
                error.attempts = state.attempts
            await books.refund(session, account, prepared, error, started, ctx, at)
            return
        input_tokens, output_tokens, estimated = _usage(state, prepared)
        properties = {"stream": True, **({"attempts": state.attempts} if state.attempts else {})}
        if estimated:
            properties["usage_estimated"] = True
        disconnected = state.outcome == "disconnected"
        outcome = Outcome(
            provider=state.provider,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=prepared.spec.cost_usd(at, input_tokens, output_tokens),
            latency_ms=int((time.perf_counter() - started) * 1000),
            answer="".join(state.sent),
            status="disconnected" if disconnected else "ok",
            error_code=ClientDisconnected.code if disconnected else None,
            properties=properties,
        )
        await books.settle(session, account, prepared, outcome, ctx, at)


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body generator however the response ends (Starlette leaves it open when a send fails),
    so the stream's `finally` and its settlement run at once."""

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self.body_iterator.aclose()
