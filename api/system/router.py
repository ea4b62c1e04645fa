"""`/api/v1/admin/health`: is everything behind the API well (health:read)? `/api/v1/admin/live`: the last
minutes, straight from the OLTP database (analytics:read)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from api.audit import service as audit
from api.auth.deps import AnalyticsReader, AuditCtx, HealthReader
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.core.types import utcnow
from api.core.validation import Instant
from api.system import error_log as errors
from api.system import live as live_figures
from api.system import service
from api.system.schemas import ErrorOut, HealthOut, LiveOut, ThroughputOut

router = APIRouter(prefix="/api/v1/admin", tags=["admin: system"])


@router.get("/health", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def health(_staff: HealthReader, session: SessionDep, request: Request) -> HealthOut:
    """The database's latency, the serving copy's age, the pipeline's last runs (a failed one makes the
    status "degraded"), and each provider's calls of the last 15 minutes."""
    state = request.app.state
    return await service.health(session, state.settings, state.gateway.catalogue, utcnow())


@router.get("/live", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def live(_staff: AnalyticsReader, session: SessionDep) -> LiveOut:
    """Requests, errors, active users and p95 latency over the last 1, 5 and 60 minutes, from the OLTP
    database (the warehouse lags by up to a minute)."""
    return await service.live(session, utcnow())


@router.get("/live/throughput", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def throughput(
    _staff: AnalyticsReader,
    session: SessionDep,
    hours: Annotated[int, Query(ge=1, le=live_figures.THROUGHPUT_MAX_HOURS)] = 3,
) -> ThroughputOut:
    """Requests and tokens a minute (RPM, TPM) by model and provider over the last `hours` (1-24), from
    the OLTP database; minutes without a call are absent."""
    return await service.throughput(session, utcnow(), hours)


@router.get("/errors", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def error_log(
    _staff: HealthReader,
    session: SessionDep,
    kind: Literal["unhandled", "provider"] | None = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[ErrorOut]:
    """Unhandled exceptions and provider failures, newest first; find one by the request id a client saw."""
    return await service.errors(
        session, kind=kind, request_id=request_id, since=since, limit=limit, offset=offset
    )


@router.get(
    "/errors/export",
    responses={**responses(NotAuthenticated, Forbidden, AccountBlocked), **exports.LIST_EXPORT},
    response_class=Response,
)
async def export_error_log(
    staff: HealthReader,
    audit_ctx: AuditCtx,
    session: SessionDep,
    request: Request,
    kind: Literal["unhandled", "provider"] | None = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    format: exports.Format = "csv",
):
    """The whole matching error log, as CSV (streamed) or XLSX."""
    query = errors.errors_query(kind=kind, request_id=request_id, since=since, columns=True)
    return await audit.export(
        request, session, staff, audit_ctx, format, query, list(errors.COLUMNS), filename="errors"
    )
