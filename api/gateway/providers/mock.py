"""The built-in offline provider: deterministic answers with real token counts, no network.

Token counts use a simple word/punctuation split, so they are reproducible without any tokenizer files.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from api.gateway.providers.base import ChatMessage, Completion, ModelInfo

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PER_MESSAGE_OVERHEAD = 3  # role and separators, as chat formats add around each message

_ANSWERS = (
    "Here is a concise answer to your question.",
    "Sure. Let me break this down step by step for you.",
    "Good question: the short version is that it depends on the context.",
    "I rewrote the text so that it reads clearly and keeps your meaning.",
)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


class MockProvider:
    name = "mock"

    def __init__(self) -> None:
        self._models = [
            ModelInfo("mock-small", "mock", Decimal("0.15"), Decimal("0.60")),
            ModelInfo("mock-large", "mock", Decimal("2.50"), Decimal("10.00")),
        ]

    def models(self) -> list[ModelInfo]:
        return list(self._models)

    async def complete(
        self, model: str, messages: list[ChatMessage], *, max_tokens: int | None, temperature: float | None
    ) -> Completion:
        prompt = messages[-1].content if messages else ""
        digest = hashlib.sha256(f"{model}\n{prompt}".encode()).digest()
        answer = f"{_ANSWERS[digest[0] % len(_ANSWERS)]} You wrote: {prompt[:200]}"
        tokens = _TOKEN.findall(answer)
        finish_reason = "stop"
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens, finish_reason = tokens[:max_tokens], "length"
            answer = " ".join(tokens)
        input_tokens = sum(count_tokens(m.content) + _PER_MESSAGE_OVERHEAD for m in messages)
        return Completion(answer, input_tokens, len(tokens), finish_reason)
