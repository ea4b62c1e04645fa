"""`Idempotency-Key`: a retried request with the same key gets the first answer instead of running again.

The first request claims the key (a unique row); a retry while it runs gets 409 `idempotency_in_progress`,
a retry after it finished gets the stored answer, the same key with another body gets 422
`idempotency_key_reused`. A request that fails releases its key, so it can be retried for real.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Integer, String, UniqueConstraint, Uuid, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.errors import AppError, Conflict
from api.core.types import BigIntPK, JSONDoc, UTCDateTime

# The header of a route that takes one: a client's key for the request (unique per account).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class IdempotencyRecord(Base):
    """A request made with an Idempotency-Key, and its answer once it has one."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None while in progress
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_idempotency_account_key"),)


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def claim(
    session: AsyncSession, account_id: uuid.UUID, key: str, body_hash: str, at: datetime
) -> IdempotencyRecord | None:
    """None when this request now owns the key; the finished record when it is a retry to answer from."""
    session.add(IdempotencyRecord(account_id=account_id, key=key, request_hash=body_hash, created_at=at))
    try:
        await session.commit()
        return None
    except IntegrityError:
        await session.rollback()
    existing = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key
        )
    )
    await session.commit()
    if existing.request_hash != body_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was used for another request")
    if existing.status_code is None:
        raise IdempotencyInProgress("a request with this Idempotency-Key is still running")
    return existing


async def store(
    session: AsyncSession, account_id: uuid.UUID, key: str, status_code: int, response: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=response)
    )
    await session.commit()


async def release(session: AsyncSession, account_id: uuid.UUID, key: str) -> None:
    await session.rollback()
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None),
        )
    )
    await session.commit()


async def once(
    session: AsyncSession,
    account_id: uuid.UUID,
    key: str | None,
    body: BaseModel,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
    at: datetime,
) -> BaseModel | JSONResponse:
    """Run `produce` once per key: without a key, always; with one, a retry gets the stored answer."""
    if not key:
        return await produce()
    done = await claim(session, account_id, key, request_hash(body.model_dump(mode="json")), at)
    if done is not None:
        return JSONResponse(done.response, status_code=done.status_code)
    try:
        answer = await produce()
    except BaseException:
        await release(session, account_id, key)
        raise
    await store(session, account_id, key, status_code, answer.model_dump(mode="json"))
    return answer


async def forget(session: AsyncSession, account_id: uuid.UUID) -> None:
    """An account's deletion: the answers kept for its retries (they hold its completions) are dropped."""
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.account_id == account_id))
