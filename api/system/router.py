"""`/api/v1/admin/health`: is everything behind the API well (health:read)?"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, select, text

from api.core.deps import HealthReader, SessionDep
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, responses
from api.core.types import utcnow
from api.events.models import UsageEvent
from api.events.types import EventType
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
