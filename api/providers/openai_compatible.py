"""Any OpenAI-compatible chat-completions API: OpenAI, OpenRouter, Ollama (/v1), vLLM, LiteLLM, …

The HTTP client is aiohttp: per call it costs about a third of the CPU of httpx (bench/gateway.py), and
the upstream call is most of what a completion costs the gateway.

Failures are `ProviderError`s with stable codes: `provider_timeout`, `provider_unreachable` (connection
refused or reset, a body cut short), `provider_{status}` for a 5xx or 429 (retryable), and for a 4xx
`provider_rejected_request` (not retryable: the request's fault). A provider may also report an error
inside a 200: as the whole body, or in-band in its stream (OpenRouter sends `data: {"error": {"code": 502,
"message": ...}}` and ends the stream); it maps the same way from its `code` (`provider_error` when the
code is not an HTTP status).

Two refusals come before any byte is sent (both retryable: the next provider of the model is tried):
`provider_address_refused`, a connection to an address the egress policy refuses (api/core/egress.py: the
cloud metadata service, loopback, private networks not allowed; checked on the address actually connected,
after DNS); `provider_misconfigured`, extra headers that no HTTP request may carry (a CR/LF in a value saved
before the API refused it): the call fails cleanly instead of raising inside the HTTP client.

When a stream is finished: at `data: [DONE]`, or when the body ends after a chunk with a finish_reason
(the answer is whole; only the usage chunk may be missing, and is then counted locally). A body that
ends before either is cut short: `provider_stream_truncated`, never a success. A stream has no total
time limit (a long answer may take minutes); the provider's timeout bounds each wait for the next bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from api.core.egress import Egress, was_refused
from api.providers.base import (
    CallParams,
    ChatMessage,
    Completion,
    ProviderError,
    StreamChunk,
    header_problem,
)
from api.providers.mock import count_prompt_tokens, count_tokens

_BAD_ANSWER = (ValueError, KeyError, IndexError, TypeError, AttributeError)


class OpenAICompatibleProvider:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_seconds: float,
        extra_headers: dict[str, str] | None = None,
        egress: Egress = Egress(),
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._egress = egress
        self._misconfigured = header_problem((extra_headers or {}).items())
        self._headers = {"Content-Type": "application/json", **(extra_headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=min(10.0, timeout_seconds))
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=min(10.0, timeout_seconds), sock_read=timeout_seconds
        )
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the running loop

    def _client(self) -> aiohttp.ClientSession:
        if self._misconfigured:
            raise ProviderError(f"the provider's settings are unusable: {self._misconfigured}",
                                code="provider_misconfigured")  # fmt: skip
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=self._egress.connector(limit=200, limit_per_host=200, keepalive_timeout=30),
                json_serialize=json.dumps,
                raise_for_status=False,
                trust_env=False,
            )
        return self._session

    @staticmethod
    def _unreachable(what: str, exc: aiohttp.ClientError) -> ProviderError:
        refused = getattr(exc, "os_error", None)
        if was_refused(refused):
            return ProviderError(f"{what}: {refused}", code="provider_address_refused")
        return ProviderError(f"{what}: {type(exc).__name__}", code="provider_unreachable")

    @staticmethod
    def _body(model: str, messages: list[ChatMessage], params: CallParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.temperature is not None:
            body["temperature"] = params.temperature
        return body

    @staticmethod
    def _status_error(status: int, said: str = "") -> ProviderError | None:
        """A 5xx or 429 may be retried elsewhere; another 4xx is the request's fault; below 400, None."""
        if status == 429 or status >= 500:
            return ProviderError(f"the provider answered {status}{said}", code=f"provider_{status}")
        if status >= 400:
            return ProviderError(
                f"the provider refused the request ({status}){said}",
                code="provider_rejected_request",
                retryable=False,
            )
        return None

    @classmethod
    def _check(cls, status: int) -> None:
        if error := cls._status_error(status):
            raise error

    @classmethod
    def _reported(cls, error: Any) -> ProviderError:
        """The error a provider reported inside a 200 (as the body, or as a chunk of its stream)."""
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message") if isinstance(error, dict) else error)[:200]
        if isinstance(code, int | str) and str(code).isdigit() and 400 <= int(code) < 600:
            return cls._status_error(int(code), f" in its body: {message}")
        return ProviderError(f"the provider reported an error: {message}", code="provider_error")

    async def complete(self, model: str, messages: list[ChatMessage], params: CallParams) -> Completion:
        try:
            async with self._client().post(self._url, json=self._body(model, messages, params)) as response:
                self._check(response.status)
                raw = await response.read()
        except TimeoutError as exc:
            raise ProviderError("the provider did not answer in time", code="provider_timeout") from exc
        except aiohttp.ClientError as exc:
            raise self._unreachable("cannot reach the provider", exc) from exc
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and data.get("error"):
                raise self._reported(data["error"])
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except _BAD_ANSWER as exc:
            raise ProviderError(
                "the provider's answer is not a chat completion", code="provider_bad_response"
            ) from exc
        finish_reason = choice.get("finish_reason") or "stop"
        usage = data.get("usage") or {}
        if isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int):
            return Completion(content, usage["prompt_tokens"], usage["completion_tokens"], finish_reason)
        # No usage reported: count locally and say so.
        return Completion(content, count_prompt_tokens(messages), count_tokens(content), finish_reason, True)

    async def stream(
        self, model: str, messages: list[ChatMessage], params: CallParams
    ) -> AsyncIterator[StreamChunk]:
        """Server-sent chunks; the last one carries the usage (`stream_options.include_usage`). An in-band
        error and a body that ends before the answer finished raise `ProviderError` (module docstring)."""
        body = {
            **self._body(model, messages, params),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        finished = False
        try:
            async with self._client().post(self._url, json=body, timeout=self._stream_timeout) as response:
                self._check(response.status)
                async for raw_line in response.content:
                    line = raw_line.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    chunk = json.loads(data)
                    if chunk.get("error"):
                        raise self._reported(chunk["error"])
                    usage = chunk.get("usage") or {}
                    choice = (chunk.get("choices") or [{}])[0]
                    if choice.get("finish_reason") == "error":
                        raise ProviderError("the provider ended its answer with an error")
                    finished = finished or bool(choice.get("finish_reason"))
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text or choice.get("finish_reason") or usage:
                        yield StreamChunk(
                            text=text,
                            finish_reason=choice.get("finish_reason"),
                            input_tokens=usage.get("prompt_tokens"),
                            output_tokens=usage.get("completion_tokens"),
                        )
        except TimeoutError as exc:
            raise ProviderError("the provider did not answer in time", code="provider_timeout") from exc
        except aiohttp.ClientError as exc:
            raise self._unreachable("the stream broke", exc) from exc
        except _BAD_ANSWER as exc:
            raise ProviderError(
                "the provider's stream is not chat-completion chunks", code="provider_bad_response"
            ) from exc
        if not finished:
            raise ProviderError(
                "the provider's stream ended before the answer finished (no finish_reason, no [DONE])",
                code="provider_stream_truncated",
            )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
