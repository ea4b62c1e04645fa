"""Write the error log: unhandled exceptions (in a session of their own: the request's may be the broken
thing) and provider failures (in the transaction that records the failed call)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.types import utcnow
from api.system import repository as repo
from api.system.repository import COLUMNS, errors_query  # noqa: F401 (the error log's readers import them here)

log = logging.getLogger("aiadmin.api")


async def note_unhandled(request: Request, exc: Exception) -> None:
    try:
        async with request.app.state.db.sessionmaker() as session:
            await repo.add_error(
                session,
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
    await repo.add_error(
        session,
        occurred_at=utcnow(),
        kind="provider",
        request_id=request_id,
        status=502,
        error_type=error_code[:100],
        message=message[:2000],
        account_id=account_id,
        details=details,
    )
