"""`/api/v1/admin/health`: is everything behind the API well (health:read)? `/api/v1/admin/live`: the last
minutes, straight from the OLTP database (analytics:read)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, text

from api.auth.deps import AnalyticsReader, HealthReader
from api.core import exports
from api.core.deps import SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.core.types import utcnow
from api.core.validation import Instant
from api.events.models import UsageEvent
from api.events.types import EventType
from api.system import error_log as errors
from api.system import live as live_figures
from warehouse import status as pipeline_status
from warehouse.settings import WarehouseSettings

router = APIRouter(prefix="/api/v1/admin", tags=["admin: system"])

PROVIDER_WINDOW = timedelta(minutes=15)


class DatabaseHealth(BaseModel):
    ok: bool
    latency_ms: float


class WarehouseHealth(BaseModel):
    published_at: datetime | None
    age_seconds: int | None


class PipelineHealth(BaseModel):
    ok: bool
    last_run: dict[str, Any] | None
    last_success: dict[str, Any] | None
    last_failure: dict[str, Any] | None


class ProviderHealth(BaseModel):
    id: str
    kind: str
    calls_succeeded: int
    calls_failed: int


class HealthOut(BaseModel):
    status: str  # "ok", or "degraded" when the last pipeline run failed
    checked_at: datetime
    database: DatabaseHealth
    warehouse: WarehouseHealth
    pipeline: PipelineHealth
    providers: list[ProviderHealth]


@router.get("/health", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def health(_staff: HealthReader, session: SessionDep, request: Request) -> HealthOut:
    """The database's latency, the serving copy's age, the pipeline's last runs (a failed one makes the
    status "degraded"), and each provider's calls of the last 15 minutes."""
    now = utcnow()
    began = time.perf_counter()
    await session.execute(text("SELECT 1"))
    latency_ms = round((time.perf_counter() - began) * 1000, 2)

    settings = request.app.state.settings
    data = WarehouseSettings(data_dir=settings.data_dir)
    runs, published = await asyncio.to_thread(
        lambda: (pipeline_status.read_status(data.data_dir), pipeline_status.published_at(data.serving_path))
    )
    last_run = runs.get("last_run")

    counts = (
        await session.execute(
            select(UsageEvent.provider, UsageEvent.type, func.count())
            .where(
                UsageEvent.occurred_at >= now - PROVIDER_WINDOW,
                UsageEvent.type.in_([EventType.LLM_CALL_SUCCEEDED.value, EventType.LLM_CALL_FAILED.value]),
                UsageEvent.provider.is_not(None),
            )
            .group_by(UsageEvent.provider, UsageEvent.type)
        )
    ).all()
    calls = {(provider, type_): n for provider, type_, n in counts}
    catalogue = await request.app.state.gateway.catalogue.get(session)
    providers = {route.provider.id: route.provider for m in catalogue.models.values() for route in m.routes}
    pipeline_ok = last_run is None or last_run["status"] == "success"
    return HealthOut(
        status="ok" if pipeline_ok else "degraded",
        checked_at=now,
        database=DatabaseHealth(ok=True, latency_ms=latency_ms),
        warehouse=WarehouseHealth(
            published_at=published, age_seconds=int((now - published).total_seconds()) if published else None
        ),
        pipeline=PipelineHealth(
            ok=pipeline_ok,
            last_run=last_run,
            last_success=runs.get("last_success"),
            last_failure=runs.get("last_failure"),
        ),
        providers=[
            ProviderHealth(
                id=p.id,
                kind=p.kind,
                calls_succeeded=calls.get((p.id, EventType.LLM_CALL_SUCCEEDED.value), 0),
                calls_failed=calls.get((p.id, EventType.LLM_CALL_FAILED.value), 0),
            )
            for p in sorted(providers.values(), key=lambda p: (p.priority, p.id))
        ],
    )


LIVE_WINDOWS = (1, 5, 60)  # minutes


class LiveWindow(BaseModel):
    minutes: int
    requests: int  # LLM calls
    errors: int  # failed LLM calls
    error_rate: float | None
    active_users: int  # end users who did anything (the warehouse's definition of active)
    latency_p95_ms: float | None


class LiveOut(BaseModel):
    at: datetime
    windows: list[LiveWindow]


@router.get("/live", responses=responses(NotAuthenticated, Forbidden, AccountBlocked))
async def live(_staff: AnalyticsReader, session: SessionDep) -> LiveOut:
    """Requests, errors, active users and p95 latency over the last 1, 5 and 60 minutes, from the OLTP
    database (the warehouse lags by up to a minute)."""
    now = utcnow()
    windows = []
    for minutes in LIVE_WINDOWS:
        since = now - timedelta(minutes=minutes)
        calls = await live_figures.call_counts(session, since)
        windows.append(
            LiveWindow(
                minutes=minutes,
                requests=calls.requests,
                errors=calls.errors,
                error_rate=round(calls.error_rate, 4) if calls.error_rate is not None else None,
                active_users=await live_figures.active_users(session, since),
                latency_p95_ms=await live_figures.latency_p95(session, since),
            )
        )
    return LiveOut(at=now, windows=windows)


class ErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    kind: str
    request_id: str | None
    method: str | None
    path: str | None
    status: int | None
    error_type: str
    message: str
    account_id: uuid.UUID | None
    details: dict[str, Any]


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
    query = errors.errors_query(kind=kind, request_id=request_id, since=since)
    rows = await session.scalars(query.limit(limit).offset(offset))
    return [ErrorOut.model_validate(row) for row in rows.all()]


@router.get(
    "/errors/export",
    responses={**responses(NotAuthenticated, Forbidden, AccountBlocked), **exports.LIST_EXPORT},
    response_class=Response,
)
async def export_error_log(
    _staff: HealthReader,
    session: SessionDep,
    request: Request,
    kind: Literal["unhandled", "provider"] | None = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Instant | None = None,
    format: exports.Format = "csv",
):
    """The whole matching error log, as CSV (streamed) or XLSX."""
    query = errors.errors_query(kind=kind, request_id=request_id, since=since, columns=True)
    return await exports.list_response(
        request, session, format, query, list(errors.COLUMNS), filename="errors"
    )
