"""What the gateway needs of an LLM provider."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    owned_by: str
    # USD per one million tokens, the price in force.
    input_price_per_m: Decimal
    output_price_per_m: Decimal

    def cost_usd(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (
            Decimal(input_tokens) * self.input_price_per_m + Decimal(output_tokens) * self.output_price_per_m
        ) / million


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    input_tokens: int
    output_tokens: int
    finish_reason: str = "stop"


class ProviderError(Exception):
    """The provider failed (connection, timeout, 5xx, 429): the call is refunded and may fall back."""

    def __init__(self, message: str, *, code: str = "provider_error") -> None:
        super().__init__(message)
        self.code = code


class Provider(Protocol):
    name: str

    def models(self) -> list[ModelInfo]: ...

    async def complete(
        self, model: str, messages: list[ChatMessage], *, max_tokens: int | None, temperature: float | None
    ) -> Completion: ...
