"""The OpenAI-compatible request and response shapes (the subset the gateway serves)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.core.validation import NoNul

# OpenAI's own parameters that this gateway accepts and does not act on (yet): named, so that anything
# else (a typo, a field of another API) is refused with 422 `validation_error` as OpenAI refuses it.
_Unused = Any


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: Annotated[str, Field(max_length=200_000), NoNul]
    name: Annotated[str | None, Field(max_length=256)] = None
    tool_calls: _Unused = None
    tool_call_id: _Unused = None
    refusal: _Unused = None
    audio: _Unused = None
    function_call: _Unused = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False
    include_obfuscation: bool | None = None


MetadataKey = Annotated[str, Field(min_length=1, max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Annotated[str | None, Field(min_length=1, max_length=128), NoNul] = None
    messages: Annotated[list[MessageIn], Field(min_length=1, max_length=1000)]
    max_tokens: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    # As OpenAI's: at most 16 string pairs. `role`, `chat_id` (and `mock` in test mode) are read here.
    metadata: Annotated[dict[MetadataKey, MetadataValue] | None, Field(max_length=16)] = None

    n: Annotated[int | None, Field(ge=1, le=1)] = None  # one choice is all this gateway returns
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    top_p: Annotated[float | None, Field(ge=0, le=1)] = None
    presence_penalty: Annotated[float | None, Field(ge=-2, le=2)] = None
    frequency_penalty: Annotated[float | None, Field(ge=-2, le=2)] = None
    seed: int | None = None
    user: Annotated[str | None, Field(max_length=256)] = None
    logit_bias: _Unused = None
    logprobs: bool | None = None
    top_logprobs: _Unused = None
    response_format: _Unused = None
    tools: _Unused = None
    tool_choice: _Unused = None
    parallel_tool_calls: bool | None = None
    functions: _Unused = None
    function_call: _Unused = None
    modalities: _Unused = None
    audio: _Unused = None
    prediction: _Unused = None
    reasoning_effort: _Unused = None
    verbosity: _Unused = None
    service_tier: _Unused = None
    store: bool | None = None
    prompt_cache_key: _Unused = None
    safety_identifier: _Unused = None
    web_search_options: _Unused = None


class MessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: MessageOut
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str
    # Beyond OpenAI's fields (its clients keep extra fields): what apps show their users.
    display_name: str
    context_length: int
    max_output_tokens: int
    tier: Literal["free", "paid"]
    # An alias (docs/decisions/0062): the model it stands for, whose fields these are; None: a model.
    alias_of: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class OfferedModelOut(BaseModel):
    id: str
    name: str
    tier: Literal["free", "paid"] | str


class PlanOfferOut(BaseModel):
    """A plan as end users see it: its price, limits (null: no limit) and the models it may call."""

    code: str
    name: str
    price_monthly: str | None = Field(
        description="a month's price in `currency`, as a decimal string; null: free"
    )
    currency: str | None
    price_credits: str | None = Field(
        description="the credits a month of the plan takes from the balance (`POST /api/v1/me/plan`), "
        "rounded up, as a decimal string; null: free, or no credit rate is set"
    )
    daily_requests: int | None
    tokens_per_day: int | None
    tokens_per_month: int | None
    max_chats: int | None
    max_messages_per_chat: int | None
    models: list[OfferedModelOut]


class UsableRoleOut(BaseModel):
    """An assistant role a completion accepts for this caller (`metadata.role` or `X-Assistant-Role`)."""

    id: str
    name: str
    default_model: str | None = Field(
        description="the model a call naming only the role uses; null: name one of `models` as `model`"
    )
    models: list[str] = Field(description="the models the caller's plan may use with it, in display order")
    tool: Literal["editor", "prompts"] | None = Field(
        description="where the portal offers it: an editor operation, a prompt generator style; null: chat"
    )


# ---------------------------------------------------------------- the staff playground (docs/decisions/0058)


class PlaygroundMessage(BaseModel):
    """One turn of the dialogue a staff member tries: the system prompt comes from the role or the body."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Annotated[str, Field(min_length=1, max_length=20_000), NoNul]


class PlaygroundIn(BaseModel):
    """A role (at its current or an earlier `version`) or an unsaved `system_prompt`, never both."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, Field(min_length=1, max_length=128)]
    role: Annotated[str | None, Field(pattern=r"^[a-z0-9_-]{1,64}$")] = None
    version: Annotated[int | None, Field(ge=1)] = None
    system_prompt: Annotated[str | None, Field(min_length=1, max_length=20_000), NoNul] = None
    messages: Annotated[list[PlaygroundMessage], Field(min_length=1, max_length=20)]
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    max_tokens: Annotated[int | None, Field(ge=1)] = None

    @model_validator(mode="after")
    def _one_prompt(self) -> PlaygroundIn:
        if (self.role is None) == (self.system_prompt is None):
            raise ValueError("name a `role` or send a `system_prompt`, not both")
        if self.version is not None and self.role is None:
            raise ValueError("a `version` is a role's: name the `role`")
        if self.messages[-1].role != "user":
            raise ValueError("the dialogue ends with a user message, which the model answers")
        return self


class PlaygroundOut(BaseModel):
    answer: str
    model: str
    role: str | None
    version: int | None  # the role's version tried (None: an unsaved prompt)
    provider: str
    attempts: list[dict[str, str]]  # the failed tries before the provider that answered
    input_tokens: int
    output_tokens: int
    usage_estimated: bool  # the provider did not say: the most it can have billed
    cost_usd: Decimal
    credits: Decimal | None  # the cost at the credit rate (what a user would be charged); nothing is charged
    latency_ms: int
