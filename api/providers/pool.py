"""One adapter per provider configuration, reused across calls (keeps HTTP connections alive)."""

from __future__ import annotations

from api.providers.base import Provider, ProviderSpec
from api.providers.mock import MockProvider
from api.providers.openai_compatible import OpenAICompatibleProvider


class ProviderPool:
    def __init__(self) -> None:
        self._adapters: dict[ProviderSpec, Provider] = {}
        self._retired: list[Provider] = []

    def adapter(self, spec: ProviderSpec) -> Provider:
        """The adapter for exactly this configuration; a changed one (a rotated key) gets a new adapter."""
        adapter = self._adapters.get(spec)
        if adapter is None:
            for old in [s for s in self._adapters if s.id == spec.id]:
                self._retired.append(self._adapters.pop(old))
            adapter = self._adapters[spec] = self._build(spec)
        return adapter

    @staticmethod
    def _build(spec: ProviderSpec) -> Provider:
        if spec.kind == "mock":
            return MockProvider()
        if spec.kind == "openai_compatible" and spec.base_url:
            return OpenAICompatibleProvider(
                spec.base_url,
                api_key=spec.api_key,
                timeout_seconds=spec.timeout_seconds,
                extra_headers=dict(spec.extra_headers),
                egress=spec.egress,
            )
        raise ValueError(f"provider {spec.id!r}: unknown kind {spec.kind!r} or no base URL")

    async def aclose(self) -> None:
        for adapter in [*self._adapters.values(), *self._retired]:
            await adapter.aclose()
        self._adapters.clear()
        self._retired.clear()
