"""Any OpenAI-compatible chat-completions API: OpenAI, OpenRouter, Ollama (/v1), vLLM, LiteLLM, …"""

from __future__ import annotations

from typing import Any

import httpx

from api.gateway.providers.base import CallParams, ChatMessage, Completion, ProviderError
from api.gateway.providers.mock import count_prompt_tokens, count_tokens


class OpenAICompatibleProvider:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout_seconds: float,
        extra_headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json", **(extra_headers or {})}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            transport=transport,
        )

    async def complete(self, model: str, messages: list[ChatMessage], params: CallParams) -> Completion:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.temperature is not None:
            body["temperature"] = params.temperature
        try:
            response = await self._client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise ProviderError("the provider did not answer in time", code="provider_timeout") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"cannot reach the provider: {type(exc).__name__}", code="provider_unreachable"
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderError(
                f"the provider answered {response.status_code}", code=f"provider_{response.status_code}"
            )
        if response.status_code >= 400:
            raise ProviderError(
                f"the provider refused the request ({response.status_code})",
                code="provider_rejected_request",
                retryable=False,
            )
        try:
            data = response.json()
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(
                "the provider's answer is not a chat completion", code="provider_bad_response"
            ) from exc
        usage = data.get("usage") or {}
        if isinstance(usage.get("prompt_tokens"), int) and isinstance(usage.get("completion_tokens"), int):
            return Completion(
                content,
                usage["prompt_tokens"],
                usage["completion_tokens"],
                choice.get("finish_reason") or "stop",
            )
        # No usage reported: count locally and say so.
        return Completion(
            content,
            count_prompt_tokens(messages),
            count_tokens(content),
            choice.get("finish_reason") or "stop",
            True,
        )

    async def aclose(self) -> None:
        await self._client.aclose()
