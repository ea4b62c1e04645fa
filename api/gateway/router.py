"""OpenAI-compatible endpoints: `GET /v1/models`, `POST /v1/chat/completions`."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, Request, Response

from api.auth.deps import LlmAccount, RequestCtx
from api.billing.service import InsufficientBalance
from api.catalogue.service import ModelNotFound, ModelNotInPlan, ModelRequired, RoleNotFound
from api.core import idempotency
from api.core.errors import (
    AccountBlocked,
    AppError,
    Forbidden,
    NotAuthenticated,
    ProviderUnavailable,
    QuotaExceeded,
    responses,
)
from api.core.idempotency import IdempotencyInProgress, IdempotencyKey, IdempotencyKeyReused
from api.core.types import utcnow
from api.gateway import service, streaming
from api.gateway.schemas import (
    ChatCompletionIn,
    ChatCompletionOut,
    Choice,
    MessageOut,
    ModelList,
    ModelOut,
    Usage,
)
from api.gateway.service import (
    ChatLimitReached,
    ChatMessageLimitReached,
    ChatNotFound,
    Gateway,
    MaxTokensTooLarge,
)
from api.guardrails.service import ContentBlocked
from api.providers.base import ChatMessage

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


class InvalidChatId(AppError):
    status_code = 422
    code = "invalid_chat_id"


def _assistant_role(request: Request, body: ChatCompletionIn) -> str | None:
    """`metadata.role` or the `X-Assistant-Role` header names the persona to apply."""
    role = (body.metadata or {}).get("role") or request.headers.get("x-assistant-role")
    return str(role)[:64] if role else None


@router.get(
    "/models", response_model=ModelList, responses=responses(NotAuthenticated, Forbidden, AccountBlocked)
)
async def list_models(request: Request, account: LlmAccount) -> ModelList:
    """The models the caller's plan may use, then the model aliases it may call (docs/decisions/0062), each
    described as its model, with `alias_of` naming it."""
    async with request.app.state.db.sessionmaker() as session:
        specs, aliases = await service.models_for(session, request.app.state.gateway, account)
    named = [(m.id, m, None) for m in specs] + [(alias, m, m.id) for alias, m in aliases]
    return ModelList(
        data=[
            ModelOut(
                id=name,
                created=int(m.created_at.timestamp()),
                owned_by="aiadmin",
                display_name=m.display_name,
                context_length=m.context_length,
                max_output_tokens=m.max_output_tokens,
                tier=m.tier,
                alias_of=alias_of,
            )
            for name, m, alias_of in named
        ]
    )


@router.post(
    "/chat/completions",
    response_model=ChatCompletionOut,
    responses=responses(
        NotAuthenticated,
        Forbidden,
        AccountBlocked,
        ModelNotFound,
        ModelNotInPlan,
        ModelRequired,
        RoleNotFound,
        MaxTokensTooLarge,
        ChatNotFound,
        ChatLimitReached,
        ChatMessageLimitReached,
        InvalidChatId,
        InsufficientBalance,
        IdempotencyInProgress,
        IdempotencyKeyReused,
        QuotaExceeded,
        ProviderUnavailable,
        ContentBlocked,
    )
    # `stream: true` answers with server-sent events.
    | {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def chat_completions(
    request: Request,
    body: ChatCompletionIn,
    account: LlmAccount,
    ctx: RequestCtx,
    idempotency_key: IdempotencyKey = None,
) -> ChatCompletionOut:
    """An OpenAI-compatible chat completion. With an `Idempotency-Key`, a retry gets the first answer
    (and is charged once)."""
    gateway: Gateway = request.app.state.gateway
    # The route's own session (not a dependency's: on PostgreSQL's fast lane a call seldom uses it, and
    # an unused one costs little), closed before the answer is sent, as a stream settles in its own.
    async with request.app.state.db.sessionmaker() as session:
        if body.stream:  # Server-sent events; an Idempotency-Key does not apply to streams
            prepared = await service.prepare(
                session, gateway, account, ctx=ctx, at=utcnow(), stream=True, **_call_args(request, body)
            )
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            if prepared.hit is not None:  # the response cache answers: no provider, settled already
                return _event_stream(streaming.replay(prepared, include_usage=include_usage, at=utcnow()))
            events = streaming.run(
                gateway,
                request.app.state.db.sessionmaker,
                account,
                prepared,
                include_usage=include_usage,
                wait_disconnect=partial(_wait_disconnect, request),
                ctx=ctx,
                at=utcnow(),
            )
            return _event_stream(events)

        async def produce() -> ChatCompletionOut:
            return await _complete(request, body, account, session, gateway, ctx)

        answer = await idempotency.once(session, account.id, idempotency_key, body, 200, produce, utcnow())
    if isinstance(answer, ChatCompletionOut):  # sent as is: FastAPI would validate the model once more
        return Response(answer.model_dump_json(), media_type="application/json")
    return answer


def _event_stream(events) -> streaming.ClosingStreamingResponse:
    return streaming.ClosingStreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _wait_disconnect(request: Request) -> None:
    """Returns when the client hangs up (the request body has been read: only that message is left)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _call_args(request: Request, body: ChatCompletionIn) -> dict:
    return {
        "model": body.model,
        "messages": [ChatMessage(m.role, m.content) for m in body.messages],
        "max_tokens": body.max_completion_tokens or body.max_tokens,
        "temperature": body.temperature,
        "role": _assistant_role(request, body),
        "fault": (body.metadata or {}).get("mock"),
        "chat_id": _chat_id(request, body),
    }


def _chat_id(request: Request, body: ChatCompletionIn) -> uuid.UUID | None:
    """`metadata.chat_id` or the `X-Chat-Id` header: the chat (a UUID the client picks) for the call."""
    raw = (body.metadata or {}).get("chat_id") or request.headers.get("x-chat-id")
    if not raw:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise InvalidChatId("chat_id must be a UUID") from None


async def _complete(request, body, account, session, gateway, ctx) -> ChatCompletionOut:
    result = await service.complete(
        session, gateway, account, ctx=ctx, at=utcnow(), **_call_args(request, body)
    )
    completion = result.completion
    return ChatCompletionOut(
        id=result.request_id,
        created=int(result.created.timestamp()),
        model=result.model.id,
        choices=[
            Choice(message=MessageOut(content=completion.content), finish_reason=completion.finish_reason)
        ],
        usage=Usage(
            prompt_tokens=completion.input_tokens,
            completion_tokens=completion.output_tokens,
            total_tokens=completion.input_tokens + completion.output_tokens,
        ),
    )
