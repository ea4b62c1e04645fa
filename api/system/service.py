"""The system domain's rules: how healthy everything behind the API is, the last minutes' figures, the error
log, and the run-time settings and plans staff change (each change audited, committed with its audit row,
then the gateway's catalogue snapshot in this process reloaded; other processes within
`AIADMIN_CATALOGUE_CACHE_SECONDS`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts import settings as account_settings
from api.accounts.errors import UnknownPlan
from api.accounts.models import Account, Plan
from api.audit import service as audit
from api.audit.service import AuditContext
from api.billing import service as billing
from api.billing.service import CreditRate
from api.catalogue.service import CatalogueCache
from api.core.errors import NotFound
from api.core.settings import Settings
from api.events.types import EventType
from api.system import error_log
from api.system import live as live_figures
from api.system import repository as repo
from api.system.errors import PlanExists, PlanInUse
from api.system.schemas import (
    CreditRateIn,
    DatabaseHealth,
    ErrorOut,
    HealthOut,
    LiveOut,
    LiveWindow,
    PipelineHealth,
    PlanFields,
    PlanIn,
    PlanOut,
    ProviderHealth,
    SettingsIn,
    SettingsOut,
    ThroughputMinute,
    ThroughputOut,
    WarehouseHealth,
)
from warehouse import status as pipeline_status
from warehouse.settings import WarehouseSettings

PROVIDER_WINDOW = timedelta(minutes=15)
LIVE_WINDOWS = (1, 5, 60)  # minutes

# ---------------------------------------------------------------- health, live, errors


async def health(
    session: AsyncSession, settings: Settings, cache: CatalogueCache, now: datetime
) -> HealthOut:
    """The database's latency, the serving copy's age, the pipeline's last runs (a failed one makes the
    status "degraded"), and each provider's calls of the last 15 minutes."""
    began = time.perf_counter()
    await repo.ping(session)
    latency_ms = round((time.perf_counter() - began) * 1000, 2)

    data = WarehouseSettings(data_dir=settings.data_dir)
    runs, published = await asyncio.to_thread(
        lambda: (pipeline_status.read_status(data.data_dir), pipeline_status.published_at(data.serving_path))
    )
    last_run = runs.get("last_run")

    calls = await repo.provider_calls(session, now - PROVIDER_WINDOW)
    catalogue = await cache.get(session)
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


async def live(session: AsyncSession, now: datetime) -> LiveOut:
    """Requests, errors, active users and p95 latency over the last 1, 5 and 60 minutes."""
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


async def throughput(session: AsyncSession, now: datetime, hours: int) -> ThroughputOut:
    """Requests and tokens a minute by model and provider over the last `hours`, from the OLTP events."""
    rows = await live_figures.throughput(session, now, hours)
    return ThroughputOut(
        at=now,
        hours=hours,
        since=now - timedelta(hours=hours),
        minutes=[ThroughputMinute(**asdict(r), tokens=r.tokens) for r in rows],
    )


async def errors(
    session: AsyncSession,
    *,
    kind: Literal["unhandled", "provider"] | None,
    request_id: str | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> list[ErrorOut]:
    """Unhandled exceptions and provider failures, newest first."""
    query = error_log.errors_query(kind=kind, request_id=request_id, since=since)
    return [
        ErrorOut.model_validate(row)
        for row in await repo.errors_page(session, query, limit=limit, offset=offset)
    ]


# ---------------------------------------------------------------- settings


async def read_settings(session: AsyncSession) -> SettingsOut:
    rate = await billing.credit_rate(session)
    return SettingsOut(
        credit_rate=CreditRateIn(
            currency=rate.currency, price_per_credit=rate.price_per_credit, usd_per_credit=rate.usd_per_credit
        ),
        registration_open=await account_settings.registration_open(session),
        default_plan=await account_settings.default_plan(session),
    )


async def change_settings(
    session: AsyncSession, staff: Account, body: SettingsIn, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> SettingsOut:  # fmt: skip
    """Change any of the settings given; the others stay. The audit row holds what changed."""
    before = (await read_settings(session)).model_dump(mode="json")
    if body.default_plan is not None and await accounts.get_plan(session, body.default_plan) is None:
        raise UnknownPlan(f"there is no plan {body.default_plan!r}")
    if body.credit_rate is not None:
        rate = body.credit_rate
        await billing.set_credit_rate(
            session, CreditRate(rate.currency, rate.price_per_credit, rate.usd_per_credit), at
        )
    for key in ("registration_open", "default_plan"):
        if getattr(body, key) is not None:
            await account_settings.put(session, key, getattr(body, key), at)
    after = (await read_settings(session)).model_dump(mode="json")
    changed = [key for key in after if after[key] != before[key]]
    await audit.commit_audited(
        session, staff, "settings.change", target_type="settings", target_id="app",
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed}, at=at,
        context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return SettingsOut.model_validate(after)


# ---------------------------------------------------------------- plans


async def list_plans(session: AsyncSession) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await accounts.plans_by_code(session)]


async def _plan(session: AsyncSession, code: str) -> Plan:
    plan = await accounts.get_plan(session, code)
    if plan is None:
        raise NotFound(f"no plan {code!r}")
    return plan


async def create_plan(
    session: AsyncSession, staff: Account, body: PlanIn, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> PlanOut:  # fmt: skip
    if await accounts.get_plan(session, body.code) is not None:
        raise PlanExists(f"plan {body.code!r} exists")
    plan = Plan(**body.model_dump())
    accounts.add_plan(session, plan)
    await audit.commit_audited(
        session, staff, "plan.create", target_type="plan", target_id=body.code, before={},
        after=body.model_dump(mode="json"), at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
    return PlanOut.model_validate(plan)


OFFER_FIELDS = ("public", "price_monthly")


async def update_plan(
    session: AsyncSession, staff: Account, code: str, body: PlanFields, *, at: datetime,
    context: AuditContext, cache: CatalogueCache,
) -> PlanOut:  # fmt: skip
    """Replace the plan's name, tiers and limits (None: no limit); accounts on it get them at once. Whether
    it is public and its price stay as they are unless sent (a client that predates them keeps them)."""
    plan = await _plan(session, code)
    before = PlanFields.model_validate(plan).model_dump(mode="json")
    kept = {name for name in OFFER_FIELDS if name not in body.model_fields_set}
    for key, value in body.model_dump(exclude=kept).items():
        setattr(plan, key, value)
    await audit.commit_audited(
        session, staff, "plan.update", target_type="plan", target_id=code, before=before,
        after=PlanFields.model_validate(plan).model_dump(mode="json"), at=at, context=context,
        after_commit=cache.invalidate,
    )  # fmt: skip
    return PlanOut.model_validate(plan)


async def delete_plan(
    session: AsyncSession, staff: Account, code: str, *, at: datetime, context: AuditContext,
    cache: CatalogueCache,
) -> None:  # fmt: skip
    """Refused while an account is on it or it is the default plan: move them first."""
    plan = await _plan(session, code)
    on_it = await accounts.accounts_on_plan(session, code)
    if on_it or await account_settings.default_plan(session) == code:
        raise PlanInUse(f"plan {code!r} is the default plan or has {on_it} accounts: move them first")
    before = PlanFields.model_validate(plan).model_dump(mode="json")
    await accounts.delete_plan(session, plan)
    await audit.commit_audited(
        session, staff, "plan.delete", target_type="plan", target_id=code, before=before, after={},
        at=at, context=context, after_commit=cache.invalidate,
    )  # fmt: skip
