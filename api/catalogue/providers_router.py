"""`/api/v1/admin/providers` (providers:write): add, edit, rotate the key, disable, test. Keys and extra
headers are write-only: encrypted at rest, shown masked (`sk-…abcd`) in every answer and audit row, never
logged. A base URL on a network the server must not call (api/core/egress.py) is refused, 400
`address_not_allowed`; a header no request may carry (a CR or LF in it), 400 `invalid_header`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from api.auth.deps import AuditCtx, ProvidersWriter
from api.catalogue import admin
from api.catalogue.errors import InvalidHeader, ProviderExists
from api.catalogue.schemas import KeyIn, ProviderFields, ProviderIn, ProviderOut, TestOut
from api.core.deps import SessionDep, SettingsDep
from api.core.egress import AddressNotAllowed
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow

router = APIRouter(prefix="/api/v1/admin/providers", tags=["admin: providers"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
REFUSED = (AddressNotAllowed, InvalidHeader)  # what a save refuses in a provider's settings
EDIT_ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound, *REFUSED)
ProviderId = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$")]


@router.get("", responses=ERRORS)
async def list_providers(
    _staff: ProvidersWriter, session: SessionDep, settings: SettingsDep
) -> list[ProviderOut]:
    return await admin.list_providers(session, settings)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=responses(NotAuthenticated, Forbidden, AccountBlocked, ProviderExists, *REFUSED),
)
async def add_provider(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, body: ProviderIn, request: Request,
    audit_ctx: AuditCtx,
) -> ProviderOut:  # fmt: skip
    return await admin.add_provider(
        session,
        settings,
        staff,
        body,
        at=utcnow(),
        context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )


@router.put("/{provider_id}", responses=EDIT_ERRORS)
async def edit_provider(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, provider_id: ProviderId,
    body: ProviderFields, request: Request, audit_ctx: AuditCtx,
) -> ProviderOut:  # fmt: skip
    """Replace everything but the key (`enabled: false` disables it: its models fall back to the next)."""
    return await admin.edit_provider(
        session, settings, staff, provider_id, body, at=utcnow(), context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )  # fmt: skip


@router.post("/{provider_id}/rotate-key", responses=ERRORS)
async def rotate_key(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, provider_id: ProviderId, body: KeyIn,
    request: Request, audit_ctx: AuditCtx,
) -> ProviderOut:  # fmt: skip
    """Store a new key (encrypted); the next call uses it, on a fresh connection pool."""
    return await admin.rotate_key(
        session, settings, staff, provider_id, body, at=utcnow(), context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )  # fmt: skip


@router.post("/{provider_id}/test", responses=ERRORS)
async def test_provider(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, provider_id: ProviderId,
    request: Request, audit_ctx: AuditCtx,
    model: Annotated[str | None, Query(max_length=200, description="default: a model routed to it")] = None,
) -> TestOut:  # fmt: skip
    """One cheap call (one output token) to the provider, enabled or not: its health and latency."""
    return await admin.test_provider(
        session,
        settings,
        staff,
        provider_id,
        model,
        context=audit_ctx,
        cache=request.app.state.gateway.catalogue,
    )
