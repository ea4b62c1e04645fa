"""Any OpenAI-compatible chat-completions API: OpenAI, OpenRouter, Ollama (/v1), vLLM, LiteLLM, …

The HTTP client is aiohttp: per call it costs about a third of the CPU of httpx (bench/gateway.py), and
the upstream call is most of what a completion costs the gateway.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from api.gateway.providers.base import CallParams, ChatMessage, Completion, ProviderError, StreamChunk
from api.gateway.providers.mock import count_prompt_tokens, count_tokens

_BAD_ANSWER = (ValueError, KeyError, IndexError, TypeError, AttributeError)


class OpenAICompatibleProvider:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_seconds: float,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", **(extra_headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=min(10.0, timeout_seconds))
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the running loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=200, keepalive_timeout=30),
                json_serialize=json.dumps,
                raise_for_status=False,
                trust_env=False,
            )
        return self._session

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
    def _check(status_code: int) -> None:
        """Connection trouble, 5xx and 429 may be retried elsewhere; another 4xx is the request's fault."""
        if status_code == 429 or status_code >= 500:
            raise ProviderError(f"the provider answered {status_code}", code=f"provider_{status_code}")
        if status_code >= 400:
            raise ProviderError(
                f"the provider refused the request ({status_code})",
                code="provider_rejected_request",
                retryable=False,
            )

    async def complete(self, model: str, messages: list[ChatMessage], params: CallParams) -> Completion:
        try:
            async with self._client().post(self._url, json=self._body(model, messages, params)) as response:
                self._check(response.status)
                raw = await response.read()
        except TimeoutError as exc:
            raise ProviderError("the provider did not answer in time", code="provider_timeout") from exc
        except aiohttp.ClientError as exc:
            raise ProviderError(
                f"cannot reach the provider: {type(exc).__name__}", code="provider_unreachable"
            ) from exc
        try:
            data = json.loads(raw)
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
        """Server-sent chunks; the last one carries the usage (`stream_options.include_usage`)."""
        body = {
            **self._body(model, messages, params),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        try:
            async with self._client().post(self._url, json=body) as response:
                self._check(response.status)
                async for raw_line in response.content:
                    line = raw_line.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or {}
                    choice = (chunk.get("choices") or [{}])[0]
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
            raise ProviderError(
                f"the stream broke: {type(exc).__name__}", code="provider_unreachable"
            ) from exc
        except _BAD_ANSWER as exc:
            raise ProviderError(
                "the provider's stream is not chat-completion chunks", code="provider_bad_response"
            ) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
