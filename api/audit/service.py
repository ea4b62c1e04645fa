"""Write the audit log, in the transaction of the change it records (both commit, or neither)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from api.accounts.models import Account
from api.audit import repository as repo
from api.core import exports
from api.core.types import utcnow


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Where a staff action came from."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


async def write(
    session: AsyncSession,
    actor: Account,
    action: str,
    *,
    target_type: str,
    target_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    at: datetime,
    context: AuditContext,
    reason: str | None = None,
) -> None:
    await write_as(
        session,
        actor.id,
        action,
        actor_email=actor.email,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        at=at,
        context=context,
        reason=reason,
    )


async def write_as(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    action: str,
    *,
    target_type: str,
    target_id: str,
    after: dict[str, Any],
    at: datetime,
    context: AuditContext,
    before: dict[str, Any] | None = None,
    actor_email: str | None = None,
    reason: str | None = None,
) -> None:
    """The same, for an actor known by id (an admin's requests under impersonation)."""
    await repo.add_entry(
        session,
        {
            "occurred_at": at,
            "actor_id": actor_id,
            "actor_email": actor_email,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "before": before or {},
            "after": after,
            "reason": reason,
            "ip": context.ip,
            "user_agent": context.user_agent,
            "request_id": context.request_id,
        },
    )


async def commit_audited(
    session: AsyncSession,
    actor: Account,
    action: str,
    *,
    target_type: str,
    target_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    at: datetime,
    context: AuditContext,
    reason: str | None = None,
    after_commit: Callable[[], None] | None = None,
) -> None:
    """Finish a staff change made in `session`: write its audit row, commit the change and the row together,
    then (only once both are durable) run `after_commit`, e.g. reload a cache that holds what changed."""
    await write(
        session, actor, action, target_type=target_type, target_id=target_id, before=before, after=after,
        at=at, context=context, reason=reason,
    )  # fmt: skip
    await session.commit()
    if after_commit is not None:
        after_commit()


async def export(
    request: Request,
    session: AsyncSession,
    actor: Account,
    context: AuditContext,
    format: exports.Format,
    query: Select,
    header: list[str],
    row: Callable = tuple,
    *,
    filename: str,
) -> Response:
    """A whole list as a file (`exports.list_response`), recorded first in the audit log: who took which
    list, with which filters, in which format, how many rows. Every list export is one (users' emails,
    sign-in addresses, recipients: personal data leaves the system through these)."""
    rows = await exports.count_rows(session, query)
    await commit_audited(
        session, actor, "export.download", target_type="export", target_id=filename, before={},
        after={"format": format, "rows": rows, "filters": dict(request.query_params)}, at=utcnow(),
        context=context,
    )  # fmt: skip
    return await exports.list_response(request, session, format, query, header, row, filename=filename)


async def record_download(
    session: AsyncSession,
    actor: Account,
    context: AuditContext,
    *,
    name: str,
    format: str,
    rows: int,
    columns: list[str],
) -> None:
    """A table the panel made into a file for `actor` (as shown: the API never saw the file)."""
    await commit_audited(
        session, actor, "export.download", target_type="panel_table", target_id=name, before={},
        after={"format": format, "rows": rows, "columns": columns}, at=utcnow(), context=context,
    )  # fmt: skip


# The log's filter, its export columns and its queries are the repository's; routers and other services
# import them from here.
AuditFilter, COLUMNS, log_query, entries = repo.AuditFilter, repo.COLUMNS, repo.log_query, repo.entries
