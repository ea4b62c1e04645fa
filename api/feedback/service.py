"""Scoring a completion: only its caller may, once per completion (a new score replaces the last), each
change recorded as a `feedback.given` event that names the call's model, role, role version, provider and
plan, so that analytics needs no join (docs/decisions/0054)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.core import rate_limit
from api.core.errors import NotFound
from api.core.settings import Settings
from api.events.outbox import RequestContext, record
from api.events.types import EventType
from api.feedback import repository as repo
from api.feedback.schemas import FeedbackIn, FeedbackOut

PREFIX = "chatcmpl-"


class CompletionNotFound(NotFound):
    code = "completion_not_found"


def _reference(completion_id: str) -> uuid.UUID | None:
    """The reference in a completion id `chatcmpl-<32 hex>` (None: not one)."""
    tail = completion_id.removeprefix(PREFIX)
    if tail == completion_id or len(tail) != 32:
        return None
    try:
        return uuid.UUID(hex=tail)
    except ValueError:
        return None


async def give(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    completion_id: str,
    body: FeedbackIn,
    *,
    ctx: RequestContext,
    at: datetime,
) -> FeedbackOut:
    """Keep `body` as the score of the caller's completion `completion_id` and record the change. Counted
    against the account's `feedback_per_minute` first, so probing ids is throttled as scoring is."""
    await rate_limit.hit(
        session,
        {f"feedback:{account.id}": settings.feedback_per_minute},
        window=timedelta(minutes=1),
        at=at,
        message=f"at most {settings.feedback_per_minute} scores a minute: try again shortly",
    )
    reference = _reference(completion_id)
    call = await repo.own_completion(session, account.id, reference) if reference else None
    if call is None:
        raise CompletionNotFound(f"no completion {completion_id[:64]!r} of yours to score")
    role_version = (call.properties or {}).get("role_version")
    changed = await repo.keep(
        session,
        {
            "completion_id": reference, "account_id": account.id,
            "rating": body.rating, "value": body.value, "comment": body.comment,
            "model_id": call.model_id, "role_id": call.role_id, "role_version": role_version,
            "provider": call.provider, "plan": call.plan, "created_at": at, "updated_at": at,
        },
    )  # fmt: skip
    if changed:
        record(
            session,
            EventType.FEEDBACK_GIVEN,
            at=at,
            ctx=ctx,
            # The call's own dimensions (its plan then, not now), so a score joins nothing to be counted.
            user_id=account.id, country=account.country, chat_id=call.chat_id,
            model_id=call.model_id, role_id=call.role_id, provider=call.provider, plan=call.plan,
            status="ok",
            properties={
                "completion_id": reference.hex, "rating": body.rating, "value": body.value,
                "role_version": role_version, "commented": bool(body.comment),
            },
        )  # fmt: skip
    await session.commit()
    kept = await repo.get(session, reference)
    return FeedbackOut(
        completion_id=PREFIX + reference.hex,
        rating=kept.rating,
        value=kept.value,
        comment=kept.comment,
        created_at=kept.created_at,
        updated_at=kept.updated_at,
    )


async def forget_account(session: AsyncSession, account_id: uuid.UUID) -> int:
    """A deleted account's comments are erased, in the deletion's transaction."""
    return await repo.erase_comments(session, account_id)
