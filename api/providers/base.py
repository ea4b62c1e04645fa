"""What the gateway needs of an LLM provider adapter."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from api.core.egress import Egress


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class CallParams:
    max_tokens: int | None = None
    temperature: float | None = None
    # Test mode only: ask the offline mock to "fail", "stall" or be "slow".
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "stop"
    usage_estimated: bool = False  # the provider reported no usage: counted locally


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of a streamed answer: text, or (last) the provider's usage report."""

    text: str = ""
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class ProviderError(Exception):
    """A provider call failed. Retryable failures (connection, timeout, 5xx, 429) fall back to the next
    provider serving the model; the others (the provider refused the request itself) do not."""

    def __init__(self, message: str, *, code: str = "provider_error", retryable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class Provider(Protocol):
    async def complete(self, model: str, messages: list[ChatMessage], params: CallParams) -> Completion: ...

    def stream(
        self, model: str, messages: list[ChatMessage], params: CallParams
    ) -> AsyncIterator[StreamChunk]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider as an adapter is built from (the catalogue makes it from its row, the key decrypted)."""

    id: str
    kind: str
    base_url: str | None
    api_key: str | None = field(repr=False)
    priority: int
    timeout_seconds: float
    max_retries: int
    extra_headers: tuple[tuple[str, str], ...] = field(repr=False)  # secrets too (a tenant's token)
    # Where its calls may connect (public addresses, and the networks the settings allow).
    egress: Egress = field(default_factory=Egress)


# An HTTP field name is a token (RFC 9110 5.1); these fields frame or route the request, which is the
# HTTP client's business, not a provider setting's.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FRAMING = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade"}
)


def header_problem(headers: Iterable[tuple[str, str]]) -> str | None:
    """What is wrong with a provider's extra headers (None: nothing). A control character (CR, LF, …) in
    a name or a value would split the request or make the HTTP client refuse every call."""
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            return f"header name {name!r} is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"
        if name.lower() in _FRAMING:
            return f"header {name!r} is set by the HTTP client, not by a provider setting"
        if any(unicodedata.category(c) == "Cc" for c in value):
            return f"the value of header {name!r} holds a control character (CR, LF, tab, …)"
    return None
