"""`POST /v1/chat/completions/{completion_id}/feedback`: beside the completions, with their credentials
(an access token or an API key), so an app that calls the gateway with a key scores with the same key
(docs/decisions/0054)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.auth.deps import LlmAccount, RequestCtx
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.core.rate_limit import TooManyRequests
from api.core.types import utcnow
from api.feedback import service
from api.feedback.schemas import FeedbackIn, FeedbackOut
from api.feedback.service import CompletionNotFound

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


@router.post(
    "/chat/completions/{completion_id}/feedback",
    response_model=FeedbackOut,
    responses=responses(NotAuthenticated, Forbidden, AccountBlocked, CompletionNotFound, TooManyRequests),
)
async def give_feedback(
    request: Request, completion_id: str, body: FeedbackIn, account: LlmAccount, ctx: RequestCtx
) -> FeedbackOut:
    """Score one of your completions by its `id` (`chatcmpl-…`): `{"rating": "up"}` or `"down"`, or
    `{"value": 1..5}`, with an optional `comment` (at most 2,000 characters). Scoring again replaces the
    score: one per completion. Another user's completion, a failed call's id or an unknown one is 404
    `completion_not_found`, alike; more than `AIADMIN_FEEDBACK_PER_MINUTE` scores a minute is 429."""
    async with request.app.state.db.sessionmaker() as session:
        return await service.give(
            session, request.app.state.settings, account, completion_id, body, ctx=ctx, at=utcnow()
        )
