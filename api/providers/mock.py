"""The built-in offline provider: deterministic answers with real token counts, no network.

Token counts use a simple word/punctuation split, so they are reproducible without any tokenizer files.
In test mode it can be told to fail, stall (never answer), be slow or overbill (report far more tokens than
the prompt has bytes).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import replace

from api.providers.base import CallParams, ChatMessage, Completion, ProviderError, StreamChunk

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
PER_MESSAGE_OVERHEAD = 3  # role and separators, as chat formats add around each message
SLOW_SECONDS = 0.2

_ANSWERS = (
    "Here is a concise answer to your question.",
    "Sure. Let me break this down step by step for you.",
    "Good question: the short version is that it depends on the context.",
    "I rewrote the text so that it reads clearly and keeps your meaning.",
)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def count_prompt_tokens(messages: list[ChatMessage]) -> int:
    return sum(count_tokens(m.content) + PER_MESSAGE_OVERHEAD for m in messages)


def answer(model: str, messages: list[ChatMessage], max_tokens: int | None) -> Completion:
    prompt = messages[-1].content if messages else ""
    digest = hashlib.sha256(f"{model}\n{prompt}".encode()).digest()
    text = f"{_ANSWERS[digest[0] % len(_ANSWERS)]} You wrote: {prompt[:200]}"
    tokens = _TOKEN.findall(text)
    finish_reason = "stop"
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens, finish_reason = tokens[:max_tokens], "length"
        text = " ".join(tokens)
    return Completion(text, count_prompt_tokens(messages), len(tokens), finish_reason)


def pieces(text: str) -> list[str]:
    """The answer as the chunks a stream sends: each word with the space after it."""
    return re.findall(r"\S+\s*", text)


async def apply_fault(fault: str | None) -> None:
    if fault == "fail":
        raise ProviderError("the mock was told to fail", code="mock_failure")
    if fault == "stall":
        await asyncio.sleep(3600)  # the gateway's timeout ends it
    if fault == "slow":
        await asyncio.sleep(SLOW_SECONDS)


def overbilled(completion: Completion, fault: str | None) -> Completion:
    """Fault "overbill": a vendor billing far more prompt tokens than the text has bytes (no real tokenizer
    does: it shows what happens when the reservation falls short)."""
    if fault != "overbill":
        return completion
    return replace(completion, input_tokens=completion.input_tokens * 1000)


class MockProvider:
    async def complete(self, model: str, messages: list[ChatMessage], params: CallParams) -> Completion:
        await apply_fault(params.fault)
        return overbilled(answer(model, messages, params.max_tokens), params.fault)

    async def stream(
        self, model: str, messages: list[ChatMessage], params: CallParams
    ) -> AsyncIterator[StreamChunk]:
        await apply_fault("fail" if params.fault == "fail" else "stall" if params.fault == "stall" else None)
        completion = overbilled(answer(model, messages, params.max_tokens), params.fault)
        for piece in pieces(completion.content):
            if params.fault == "slow":
                await asyncio.sleep(SLOW_SECONDS)
            yield StreamChunk(text=piece)
        yield StreamChunk(
            finish_reason=completion.finish_reason,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
        )

    async def aclose(self) -> None:
        return None
