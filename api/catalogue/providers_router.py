"""`/api/v1/admin/providers` (providers:write): add, edit, rotate the key, disable, test. Keys are
write-only: encrypted at rest, shown masked (`sk-…abcd`) in every answer and audit row, never logged."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from api.audit import service as audit
from api.auth.deps import AuditCtx, ProvidersWriter
from api.catalogue.models import Provider
from api.catalogue.service import ProviderSpec
from api.core.crypto import Encryptor
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import AccountBlocked, Conflict, Forbidden, NotAuthenticated, NotFound, responses
from api.core.types import utcnow
from api.core.validation import SafeStr
from api.providers.base import CallParams, ChatMessage, ProviderError
from api.providers.pool import ProviderPool

router = APIRouter(prefix="/api/v1/admin/providers", tags=["admin: providers"])
ERRORS = responses(NotAuthenticated, Forbidden, AccountBlocked, NotFound)
ProviderId = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$")]
Secret = Annotated[SafeStr, Field(min_length=1, max_length=500)]


class ProviderExists(Conflict):
    code = "provider_exists"


def mask(secret: str | None) -> str | None:
    """Enough to tell two keys apart, never enough to use one."""
    if not secret:
        return None
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) >= 12 else "…"


class ProviderFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[SafeStr, Field(min_length=1, max_length=100)]
    kind: Literal["openai_compatible", "mock"] = "openai_compatible"
    base_url: Annotated[str | None, Field(pattern=r"^https?://[^\s]{1,490}$")] = None
    priority: Annotated[int, Field(ge=0, le=10_000)] = 100
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=5)] = 1
    enabled: bool = True
    extra_headers: dict[Annotated[str, Field(max_length=100)], Secret] = Field(
        default_factory=dict, max_length=20
    )

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        # Without an address there is nothing to call: refused here, not a 500 at the first call.
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError("an openai_compatible provider needs a base_url")
        return self


class ProviderIn(ProviderFields):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,64}$")]
    api_key: Secret | None = None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: Secret


class ProviderOut(BaseModel):
    id: str
    display_name: str
    kind: str
    base_url: str | None
    priority: int
    timeout_seconds: float
    max_retries: int
    enabled: bool
    api_key: str | None  # masked
    extra_headers: dict[str, str]  # values masked
    created_at: datetime


class TestOut(BaseModel):
    ok: bool
    latency_ms: float
    model: str
    error: str | None = None


def _out(provider: Provider, encryptor: Encryptor) -> ProviderOut:
    key = encryptor.decrypt(provider.api_key_encrypted) if provider.api_key_encrypted else None
    return ProviderOut(
        id=provider.id,
        display_name=provider.display_name,
        kind=provider.kind,
        base_url=provider.base_url,
        priority=provider.priority,
        timeout_seconds=provider.timeout_seconds,
        max_retries=provider.max_retries,
        enabled=provider.enabled,
        api_key=mask(key),
        extra_headers={name: mask(value) or "" for name, value in (provider.extra_headers or {}).items()},
        created_at=provider.created_at,
    )


def _shown(out: ProviderOut) -> dict[str, Any]:
    return out.model_dump(mode="json", exclude={"created_at"})


async def _get(session, provider_id: str) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound(f"no provider {provider_id!r}")
    return provider


@router.get("", responses=ERRORS)
async def list_providers(
    _staff: ProvidersWriter, session: SessionDep, settings: SettingsDep
) -> list[ProviderOut]:
    encryptor = Encryptor(settings)
    return [
        _out(p, encryptor)
        for p in (await session.scalars(select(Provider).order_by(Provider.priority, Provider.id))).all()
    ]


@router.post("", status_code=status.HTTP_201_CREATED, responses={**ERRORS, **responses(ProviderExists)})
async def add_provider(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, body: ProviderIn, request: Request,
    audit_ctx: AuditCtx,
) -> ProviderOut:  # fmt: skip
    if await session.get(Provider, body.id) is not None:
        raise ProviderExists(f"provider {body.id!r} exists")
    encryptor = Encryptor(settings)
    fields = body.model_dump(exclude={"api_key"})
    provider = Provider(
        **fields,
        api_key_encrypted=encryptor.encrypt(body.api_key) if body.api_key else None,
        created_at=utcnow(),
    )
    session.add(provider)
    out = _out(provider, encryptor)
    await audit.write(
        session, staff, "provider.add", target_type="provider", target_id=body.id, before={},
        after=_shown(out), at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return out


@router.put("/{provider_id}", responses=ERRORS)
async def edit_provider(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, provider_id: ProviderId,
    body: ProviderFields, request: Request, audit_ctx: AuditCtx,
) -> ProviderOut:  # fmt: skip
    """Replace everything but the key (`enabled: false` disables it: its models fall back to the next)."""
    encryptor = Encryptor(settings)
    provider = await _get(session, provider_id)
    before = _shown(_out(provider, encryptor))
    for name, value in body.model_dump().items():
        setattr(provider, name, value)
    out = _out(provider, encryptor)
    await audit.write(
        session, staff, "provider.edit", target_type="provider", target_id=provider_id, before=before,
        after=_shown(out), at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return out


@router.post("/{provider_id}/rotate-key", responses=ERRORS)
async def rotate_key(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, provider_id: ProviderId, body: KeyIn,
    request: Request, audit_ctx: AuditCtx,
) -> ProviderOut:  # fmt: skip
    """Store a new key (encrypted); the next call uses it, on a fresh connection pool."""
    encryptor = Encryptor(settings)
    provider = await _get(session, provider_id)
    before = _out(provider, encryptor).api_key
    provider.api_key_encrypted = encryptor.encrypt(body.api_key)
    out = _out(provider, encryptor)
    await audit.write(
        session, staff, "provider.rotate_key", target_type="provider", target_id=provider_id,
        before={"api_key": before}, after={"api_key": out.api_key}, at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    request.app.state.gateway.catalogue.invalidate()
    return out


@router.post("/{provider_id}/test", responses=ERRORS)
async def test_provider(
    staff: ProvidersWriter, session: SessionDep, settings: SettingsDep, provider_id: ProviderId,
    request: Request, audit_ctx: AuditCtx,
    model: Annotated[str | None, Query(max_length=200, description="default: a model routed to it")] = None,
) -> TestOut:  # fmt: skip
    """One cheap call (one output token) to the provider, enabled or not: its health and latency."""
    provider = await _get(session, provider_id)
    encryptor = Encryptor(settings)
    catalogue = await request.app.state.gateway.catalogue.get(session)
    routed = [
        r.provider_model for m in catalogue.models.values() for r in m.routes if r.provider.id == provider_id
    ]
    model = model or (routed[0] if routed else "mock-small")
    spec = replace(ProviderSpec.of(provider, encryptor), max_retries=0)
    pool = ProviderPool()
    began = time.perf_counter()
    try:
        await pool.adapter(spec).complete(model, [ChatMessage("user", "ping")], CallParams(max_tokens=1))
        result = TestOut(ok=True, latency_ms=round((time.perf_counter() - began) * 1000, 1), model=model)
    except (ProviderError, TimeoutError) as exc:
        result = TestOut(
            ok=False, latency_ms=round((time.perf_counter() - began) * 1000, 1), model=model,
            error=getattr(exc, "code", "provider_timeout"),
        )  # fmt: skip
    finally:
        await pool.aclose()
    await audit.write(
        session, staff, "provider.test", target_type="provider", target_id=provider_id, before={},
        after=result.model_dump(mode="json"), at=utcnow(), context=audit_ctx,
    )  # fmt: skip
    await session.commit()
    return result
