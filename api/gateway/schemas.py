"""The OpenAI-compatible request and response shapes (the subset the gateway serves)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.core.validation import NoNul


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: Annotated[str, Field(max_length=200_000), NoNul]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    # OpenAI clients send fields this gateway does not use yet (n, stop, …): accepted and ignored.
    model_config = ConfigDict(extra="ignore")

    model: Annotated[str | None, Field(min_length=1, max_length=128), NoNul] = None
    messages: Annotated[list[MessageIn], Field(min_length=1, max_length=1000)]
    max_tokens: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    metadata: dict[str, Any] | None = None


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


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]
