"""The ASGI app: `uvicorn api.main:app`."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.alerts.router import router as alerts_router
from api.alerts.service import evaluate_due
from api.analytics.router import router as analytics_router
from api.audit.router import router as audit_router
from api.auth.deps import REQUIRE, Public
from api.auth.permissions import Permission
from api.auth.router import router as auth_router
from api.billing.recovery import refund_lost_reservations
from api.billing.router import router as billing_router
from api.calls.router import router as calls_router
from api.catalogue.aliases_router import router as aliases_router
from api.catalogue.cache_router import router as cache_router
from api.catalogue.experiments_router import router as experiments_router
from api.catalogue.guardrails_router import router as guardrails_router
from api.catalogue.models_router import router as models_router
from api.catalogue.providers_router import router as providers_router
from api.catalogue.roles_router import router as roles_router
from api.chats.moderation_router import router as moderation_router
from api.chats.router import router as chats_router
from api.core import docs
from api.core.db import Database
from api.core.deps import SessionDep
from api.core.errors import door_responses, install_error_handlers
from api.core.metrics import Metrics, MetricsMiddleware
from api.core.periodic import Periodic
from api.core.request_guard import RequestGuard
from api.core.request_id import RequestIdMiddleware
from api.core.security_headers import SecurityHeaders
from api.core.settings import Settings, get_settings
from api.core.types import utcnow
from api.feedback.router import router as feedback_router
from api.gateway.playground_router import router as playground_router
from api.gateway.portal_router import router as portal_router
from api.gateway.router import router as gateway_router
from api.gateway.service import Gateway
from api.guardrails.moderation_router import router as flags_router
from api.mail.sender import make_sender
from api.mail.service import deliver_all
from api.notifications.router import me_router as my_notifications_router
from api.notifications.router import router as notifications_router
from api.security.router import router as security_router
from api.system.error_log import note_unhandled
from api.system.router import router as system_router
from api.system.settings_router import router as settings_router
from api.users.admin_router import router as admin_users_router
from api.users.router import router as users_router


def background_jobs(app: FastAPI) -> Periodic:
    """What the API process does besides answering requests (see api/core/periodic.py)."""
    settings: Settings = app.state.settings
    jobs = app.state.jobs = Periodic()
    state = app.state
    jobs.add("mail", settings.mail_interval_seconds, lambda: deliver_all(state.db.sessionmaker, state.mailer))
    # Alert mails go through the outbox, which the mail job delivers.
    jobs.add(
        "alerts", settings.alerts_interval_seconds,
        lambda: evaluate_due(state.db.sessionmaker, settings, None, utcnow()),
    )  # fmt: skip
    jobs.add(
        "reservations", settings.reservations_interval_seconds,
        lambda: refund_lost_reservations(state.db.sessionmaker, settings, utcnow()),
    )  # fmt: skip
    return jobs


_bearer = HTTPBearer(auto_error=False)


async def metrics_reader(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Who may read /metrics when it is not public: a scraper with AIADMIN_METRICS_TOKEN as its bearer,
    or a staff member whose role has health:read."""
    settings: Settings = request.app.state.settings
    expected = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None
    if expected and credentials and hmac.compare_digest(credentials.credentials.encode(), expected):
        return
    await REQUIRE[Permission.HEALTH_READ](request, session, settings, credentials)


metrics_reader.permission = Permission.HEALTH_READ


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings)
        await app.state.gateway.open()
        jobs = background_jobs(app)
        if settings.background_jobs:
            jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await app.state.gateway.aclose()
            await app.state.db.dispose()

    app = FastAPI(
        title="aiadmin API",
        version="0.1.0",
        summary="Auth, quotas and an OpenAI-compatible LLM gateway for an AI-assistant service.",
        lifespan=lifespan,
        responses=door_responses(),
        # Off in production unless AIADMIN_API_DOCS says otherwise: the map of every route helps an attacker.
        # The pages are api/core/docs.py's (their scripts served here, not from a CDN).
        docs_url=None,
        redoc_url=None,
        **({} if settings.api_docs else {"openapi_url": None}),
    )
    if settings.api_docs:
        docs.install(app)
    app.state.settings = settings
    app.state.gateway = Gateway(settings)
    app.state.mailer = make_sender(settings)
    install_error_handlers(app, on_unhandled=note_unhandled)
    app.state.metrics = Metrics()
    app.add_middleware(
        RequestGuard, max_body_bytes=settings.max_body_bytes, max_json_depth=settings.max_json_depth
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)  # outermost: also on the door's refusals
    app.include_router(gateway_router)  # first: routes are matched in order, and this is the hot one
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(portal_router)
    app.include_router(feedback_router)
    app.include_router(security_router)
    app.include_router(billing_router)
    app.include_router(chats_router)
    app.include_router(system_router)
    app.include_router(analytics_router)
    app.include_router(admin_users_router)
    app.include_router(audit_router)
    app.include_router(calls_router)
    app.include_router(moderation_router)
    app.include_router(settings_router)
    app.include_router(providers_router)
    app.include_router(models_router)
    app.include_router(aliases_router)
    app.include_router(roles_router)
    app.include_router(experiments_router)
    app.include_router(playground_router)
    app.include_router(guardrails_router)
    app.include_router(cache_router)
    app.include_router(flags_router)
    app.include_router(alerts_router)
    app.include_router(notifications_router)
    app.include_router(my_notifications_router)

    @app.get("/health", tags=["health"], dependencies=[Public])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    metrics_access = Public if settings.public_metrics else Depends(metrics_reader)

    @app.get("/metrics", tags=["health"], dependencies=[metrics_access], response_class=PlainTextResponse)
    async def metrics() -> str:
        """Prometheus text format (this process). Public unless in production (AIADMIN_PUBLIC_METRICS);
        closed, it takes AIADMIN_METRICS_TOKEN or a staff token with health:read as the bearer."""
        return app.state.metrics.render()

    return app


app = create_app()
