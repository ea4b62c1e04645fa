"""Write the error log: unhandled exceptions (in a session of their own: the request's may be the broken
thing) and provider failures (in the transaction that records the failed call)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.types import utcnow
from api.system.models import ErrorEntry

log = logging.getLogger("aiadmin.api")


async def note_unhandled(request: Request, exc: Exception) -> None:
    try:
        async with request.app.state.db.sessionmaker() as session:
            await session.execute(
                insert(ErrorEntry.__table__).values(
                    occurred_at=utcnow(),
                    kind="unhandled",
                    request_id=getattr(request.state, "request_id", None),
                    method=request.method,
                    path=request.url.path[:300],
                    status=500,
                    error_type=type(exc).__name__[:100],
                    message=str(exc)[:2000],
                    details={},
                )
            )
            await session.commit()
    except Exception:  # the log must never turn one failure into two
        log.exception("could not write the error log")


async def note_provider_failure(
    session: AsyncSession,
    *,
    request_id: str | None,
    account_id: uuid.UUID | None,
    error_code: str,
    message: str,
    details: dict[str, Any],
) -> None:
    await session.execute(
        insert(ErrorEntry.__table__).values(
            occurred_at=utcnow(),
            kind="provider",
            request_id=request_id,
            status=502,
            error_type=error_code[:100],
            message=message[:2000],
            account_id=account_id,
            details=details,
        )
    )


COLUMNS = ("id", "occurred_at", "kind", "request_id", "method", "path", "status", "error_type", "message",
           "account_id", "details")  # fmt: skip


def errors_query(
    *, kind: str | None = None, request_id: str | None = None, since: datetime | None = None, columns=False
) -> Select:
    """The error log, newest first (entries, or the exported columns)."""
    query = select(*(getattr(ErrorEntry, c) for c in COLUMNS)) if columns else select(ErrorEntry)
    if kind:
        query = query.where(ErrorEntry.kind == kind)
    if request_id:
        query = query.where(ErrorEntry.request_id == request_id)
    if since:
        query = query.where(ErrorEntry.occurred_at >= since)
    return query.order_by(ErrorEntry.id.desc())
