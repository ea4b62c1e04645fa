"""The catalogue's admin side in and out: models (with routes and price history), providers (keys shown
masked), assistant roles and their versions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.core.validation import SafeStr

Usd = Annotated[Decimal, Field(ge=0, le=10**6, decimal_places=6)]
Secret = Annotated[SafeStr, Field(min_length=1, max_length=500)]

# ---------------------------------------------------------------- models


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
    provider_model: Annotated[SafeStr, Field(min_length=1, max_length=200)]


class ModelFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[SafeStr, Field(min_length=1, max_length=200)]
    tier: Annotated[str, Field(pattern=r"^(free|paid)$")] = "free"
    visible: bool = True
    enabled: bool = True
    context_length: Annotated[int, Field(ge=1, le=10**7)] = 8192
    max_output_tokens: Annotated[int, Field(ge=1, le=10**6)] = 4096
    default_params: dict[str, float | int] = Field(default_factory=dict, max_length=10)
    sort_order: Annotated[int, Field(ge=0, le=100_000)] = 100
    input_usd_per_million: Usd = Decimal(0)
    output_usd_per_million: Usd = Decimal(0)
    routes: list[Route] = Field(default_factory=list, max_length=20)


class ModelIn(ModelFields):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]


class ModelOut(ModelFields):
    id: str
    price_history: list[dict[str, Any]]
    created_at: datetime


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[str, Field(max_length=128)]] = Field(min_length=1, max_length=1000)


# ---------------------------------------------------------------- providers


class ProviderFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    kind: Literal["openai_compatible", "mock"] = "openai_compatible"
    base_url: Annotated[str | None, Field(pattern=r"^https?://[^\s]{1,490}$")] = None
    priority: Annotated[int, Field(ge=0, le=10_000)] = 100
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=5)] = 1
    enabled: bool = True
    extra_headers: dict[Annotated[str, Field(max_length=100)], Secret] = Field(
        default_factory=dict, max_length=20
    )

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        # Without an address there is nothing to call: refused here, not a 500 at the first call.
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError("an openai_compatible provider needs a base_url")
        return self


class ProviderIn(ProviderFields):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
    api_key: Secret | None = None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: Secret


class ProviderOut(BaseModel):
    id: str
    display_name: str
    kind: str
    base_url: str | None
    priority: int
    timeout_seconds: float
    max_retries: int
    enabled: bool
    api_key: str | None  # masked
    extra_headers: dict[str, str]  # values masked
    created_at: datetime


class TestOut(BaseModel):
    ok: bool
    latency_ms: float
    model: str
    error: str | None = None


# ---------------------------------------------------------------- roles

ROLE_CONTENT = ("name", "system_prompt", "default_model", "default_params", "enabled", "tool")


class RoleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    system_prompt: Annotated[SafeStr, Field(min_length=1, max_length=20_000)]
    default_model: Annotated[str | None, Field(min_length=1, max_length=128)] = None  # None: no default
    default_params: dict[str, float | int] = Field(default_factory=dict, max_length=10)
    enabled: bool = True
    # Where the end users' portal offers the role: an editor operation, a prompt generator style, or (null)
    # the chat only. Any enabled role is callable through the API whatever this says.
    tool: Literal["editor", "prompts"] | None = None


class RoleIn(RoleFields):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]


class RoleOut(RoleFields):
    id: str
    version: int


class VersionOut(RoleFields):
    version: int
    author_email: str | None
    created_at: datetime


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[int, Field(ge=1)]
