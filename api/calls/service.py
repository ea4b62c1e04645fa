"""The request explorer: every completion from its own usage event, one call with its provider attempts, and
the messages it kept in a chat (reading them is audited). Reads only; nothing here changes a row but the
audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account
from api.audit.service import AuditContext
from api.calls import repository as repo
from api.calls.repository import CallFilter
from api.calls.schemas import AttemptOut, CallDetailOut, CallMessageOut, CallMessagesOut, CallOut, CallPage
from api.chats import service as chats
from api.core.errors import NotFound

COLUMNS, calls_query = repo.COLUMNS, repo.calls_query


def _call(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    attempts = (values["properties"] or {}).get("attempts") or []
    values["outcome"] = "failed" if values.pop("type") == repo.FAILED else "succeeded"
    values["failed_attempts"] = len(attempts)
    return values


async def page(session: AsyncSession, f: CallFilter, *, before: int | None, limit: int) -> CallPage:
    rows = await repo.page(session, f, before=before, limit=limit + 1)
    items = [CallOut.model_validate(_call(row)) for row in rows[:limit]]
    return CallPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


def _attempts(call: dict[str, Any]) -> list[AttemptOut]:
    """The recorded failed attempts, then the one that answered (a success's provider)."""
    tried = [AttemptOut(provider=a.get("provider") or "?", error=a.get("error")) for a in
             call["properties"].get("attempts") or []]  # fmt: skip
    if call["outcome"] == "succeeded" and call["provider"]:
        tried.append(AttemptOut(provider=call["provider"], error=None))
    return tried


async def _found(session: AsyncSession, call_id: int) -> dict[str, Any]:
    row = await repo.one(session, call_id)
    if row is None:
        raise NotFound("no such call")
    call = _call(row)
    call["properties"] = call["properties"] or {}
    return call


async def detail(session: AsyncSession, call_id: int) -> CallDetailOut:
    call = await _found(session, call_id)
    props = call["properties"]
    reference = call["event_id"].hex if call["outcome"] == "succeeded" else props.get("reference")
    return CallDetailOut.model_validate(
        {
            **call,
            "reference": reference,
            "request_id": props.get("request_id"),
            "stream": bool(props.get("stream")),
            "usage_estimated": bool(props.get("usage_estimated")),
            "attempts": _attempts(call),
        }
    )


async def messages(
    session: AsyncSession, staff: Account, call_id: int, *, reason: str | None, now: datetime,
    context: AuditContext,
) -> CallMessagesOut:  # fmt: skip
    """The messages the call kept in its chat (a success in a chat keeps the question and the answer); a read
    of any is audited."""
    call = await _found(session, call_id)
    if call["chat_id"] is None or call["user_id"] is None or call["outcome"] == "failed":
        return CallMessagesOut(stored=False, messages=[])
    found = await chats.read_call_messages(
        session, staff, call["user_id"], call["chat_id"], call["occurred_at"], call_id=call_id, reason=reason,
        now=now, context=context,
    )  # fmt: skip
    return CallMessagesOut(
        stored=bool(found),
        messages=[CallMessageOut.model_validate(m, from_attributes=True) for m in found],
    )
