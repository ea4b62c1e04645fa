"""Who is calling, as typed dependencies: a route signature reads like its contract.

(No `from __future__ import annotations` here: FastAPI must see the real annotations of the closures.)

Every route declares a permission through one of the aliases below (or `Public`);
tests/api/auth/test_permissions.py fails for a route that does not.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts
from api.accounts import term
from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import AuditContext
from api.auth import api_keys, sessions
from api.auth import repository as auth_repo
from api.auth.credentials import decode_access_token
from api.auth.errors import TwoFactorRequired
from api.auth.permissions import API_KEY_PERMISSIONS, Permission, allowed
from api.core.crypto import token_hash
from api.core.deps import SessionDep, SettingsDep, client_ip, client_user_agent
from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated
from api.core.settings import Settings
from api.core.types import utcnow
from api.events.outbox import RequestContext

_bearer = HTTPBearer(auto_error=False)
_CLIENT = re.compile(r"^[a-z0-9_.-]{1,32}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
PUBLIC = "public"


async def get_request_context(request: Request) -> RequestContext:
    """Country from the trusted proxy header, client app from `X-Client` (web, telegram, api, …)."""
    settings = request.app.state.settings
    country = (request.headers.get(settings.country_header) or "").strip().upper()
    client = (request.headers.get("x-client") or "api").strip().lower()
    return RequestContext(
        country=country if _COUNTRY.match(country) else None,
        client=client if _CLIENT.match(client) else "other",
        ip=client_ip(request, settings),
        user_agent=client_user_agent(request, settings),
        request_id=getattr(request.state, "request_id", None),
    )


RequestCtx = Annotated[RequestContext, Depends(get_request_context)]


def audit_context(request: Request, settings: Settings) -> AuditContext:
    return AuditContext(
        ip=client_ip(request, settings),
        user_agent=client_user_agent(request, settings),
        request_id=getattr(request.state, "request_id", None),
    )


async def get_audit_context(request: Request, settings: SettingsDep) -> AuditContext:
    return audit_context(request, settings)


AuditCtx = Annotated[AuditContext, Depends(get_audit_context)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and with what: a session's access token, or a personal API key."""

    account: Account
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    impersonator_id: uuid.UUID | None = None  # an admin acting as the account


class Books(Protocol):
    """The gateway's fast lane as authentication reads it (`Gateway.callers`, api/gateway/fastlane.py)."""

    async def session_account(
        self, account_id: uuid.UUID, session_id: uuid.UUID, at: datetime
    ) -> tuple[Account, uuid.UUID | None] | None: ...

    async def key_account(
        self, key_hash: str, at: datetime, resolution: timedelta
    ) -> tuple[Account, uuid.UUID] | None: ...


_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


async def _authenticate(
    session: AsyncSession | None, settings: Settings, token: str | None, *, for_llm: bool, books: Books | None
) -> Principal:
    """The caller of a live session or (for `/v1/*`, `for_llm`) API key; read through the gateway's fast
    lane when `books` is given (`/v1/*` only reads the account), else through `session`."""
    if not token:
        raise NotAuthenticated("missing bearer token", headers=_UNAUTHENTICATED)
    if api_keys.looks_like_api_key(token):
        if not for_llm:
            raise NotAuthenticated("API keys work only for /v1/*: sign in for this", headers=_UNAUTHENTICATED)
        principal = await _key_principal(session, settings, token, books)
    else:
        claims = decode_access_token(settings, token)
        found = None
        if claims and books:
            found = await books.session_account(claims.account_id, claims.session_id, utcnow())
        elif claims:
            found = await auth_repo.account_of_live_session(
                session, claims.account_id, claims.session_id, utcnow()
            )
        principal = (
            Principal(found[0], session_id=claims.session_id, impersonator_id=found[1]) if found else None
        )
    if principal is None:
        raise NotAuthenticated("invalid, expired or revoked credentials", headers=_UNAUTHENTICATED)
    if principal.account.is_blocked:
        raise AccountBlocked("this account is blocked")
    return principal


async def _key_principal(
    session: AsyncSession | None, settings: Settings, token: str, books: Books | None
) -> Principal | None:
    if books:
        found = await books.key_account(token_hash(settings, token), utcnow(), api_keys.LAST_USED_RESOLUTION)
        return Principal(found[0], api_key_id=found[1]) if found else None
    key = await api_keys.resolve(session, settings, token, utcnow())
    account = await accounts.get_account(session, key.account_id) if key else None
    return Principal(account, api_key_id=key.id) if account else None


class ImpersonationReadOnly(Forbidden):
    code = "impersonation_read_only"


class ImpersonationEnded(NotAuthenticated):
    code = "impersonation_ended"


async def _impersonated_request(
    session: AsyncSession, settings: Settings, request: Request, principal: Principal
) -> None:
    """An admin acting as the account may look, not change, and only while the admin's session that opened
    the impersonation lives and the admin may still impersonate (api/auth/sessions.py): every request is
    audited in the admin's name."""
    if not await sessions.impersonation_lives(session, principal.account.id, principal.session_id, utcnow()):
        raise ImpersonationEnded(
            "this impersonation has ended: the admin's session ended, or the admin was blocked or demoted",
            headers=_UNAUTHENTICATED,
        )
    if request.method not in ("GET", "HEAD"):
        raise ImpersonationReadOnly("an impersonation session can only read")
    await audit.write_as(
        session,
        principal.impersonator_id,
        "impersonation.request",
        target_type="account",
        target_id=str(principal.account.id),
        after={"method": request.method, "path": request.url.path[:300]},
        at=utcnow(),
        context=audit_context(request, settings),
    )
    await session.commit()


def require(permission: Permission) -> Callable:
    """The dependency of a route that needs `permission`: authenticates, then checks the role's table.

    The account is read from the database on every request, so a block, a demotion or a revoked
    session takes effect at once, also for tokens already issued.

    `/v1/*` (the permissions an API key may have) take no request session: the gateway's fast lane reads
    the caller (PostgreSQL), or a session opened here for the purpose does (SQLite), and the route opens
    its own session if it needs one. An ORM session made and closed for every call costs more CPU than
    the fast lane's whole bookkeeping.
    """

    async def dependency(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        token = credentials.credentials if credentials else None
        principal = await _authenticate(session, settings, token, for_llm=False, books=None)
        await _plan_in_force(session, request, principal)
        return await _admitted(session, settings, request, principal, permission)

    async def llm_dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        token = credentials.credentials if credentials else None
        settings, books = request.app.state.settings, request.app.state.gateway.callers
        if books is not None:
            principal = await _authenticate(None, settings, token, for_llm=True, books=books)
            if principal.impersonator_id is None and not term.has_lapsed(principal.account, utcnow()):
                return await _admitted(None, settings, request, principal, permission)
        async with request.app.state.db.sessionmaker() as session:
            if books is None:
                principal = await _authenticate(session, settings, token, for_llm=True, books=None)
            await _plan_in_force(session, request, principal)
            return await _admitted(session, settings, request, principal, permission)

    chosen = llm_dependency if permission in API_KEY_PERMISSIONS else dependency
    chosen.permission = permission
    chosen.__name__ = f"require_{permission.value.replace(':', '_')}"
    return chosen


async def _plan_in_force(session: AsyncSession, request: Request, principal: Principal) -> None:
    """A plan bought with credits that has ended gives way to the default plan here, before anything reads
    the caller's plan (api/accounts/term.py): the one place every route and both of the gateway's books
    pass through. A comparison, unless the plan has ended."""
    now = utcnow()
    if term.has_lapsed(principal.account, now):
        await term.lapse(session, principal.account, at=now, ctx=await get_request_context(request))


async def _admitted(
    session: AsyncSession | None, settings: Settings, request: Request, principal: Principal, permission
) -> Principal:
    """The principal, if its role has `permission` (an impersonation is audited: `session` is needed)."""
    if principal.impersonator_id is not None:
        await _impersonated_request(session, settings, request, principal)
    account = principal.account
    if account.must_enrol_two_factor and permission is not Permission.ACCOUNT_SELF:
        raise TwoFactorRequired(f"the {account.role} role needs two-factor authentication: set it up first")
    if not allowed(account.role, permission):
        raise Forbidden(
            f"the {account.role} role lacks the {permission} permission",
            params={"role": account.role, "permission": str(permission)},
        )
    return principal


async def public() -> None:
    """Marks a route that anyone may call (it authenticates nobody)."""


public.permission = PUBLIC

# One dependency per permission, so FastAPI runs it once per request however often it is used.
REQUIRE = {permission: require(permission) for permission in Permission}


def _account_of(permission: Permission) -> Callable:
    async def account(principal: Annotated[Principal, Depends(REQUIRE[permission])]) -> Account:
        return principal.account

    return account


Public = Depends(public)
Authenticated = Annotated[Principal, Depends(REQUIRE[Permission.ACCOUNT_SELF])]
CurrentAccount = Annotated[Account, Depends(_account_of(Permission.ACCOUNT_SELF))]
LlmAccount = Annotated[Account, Depends(_account_of(Permission.LLM_USE))]
SecurityReader = Annotated[Account, Depends(_account_of(Permission.SECURITY_READ))]
HealthReader = Annotated[Account, Depends(_account_of(Permission.HEALTH_READ))]
AnalyticsReader = Annotated[Account, Depends(_account_of(Permission.ANALYTICS_READ))]
UsersReader = Annotated[Account, Depends(_account_of(Permission.USERS_READ))]
UsersWriter = Annotated[Account, Depends(_account_of(Permission.USERS_WRITE))]
CatalogueWriter = Annotated[Account, Depends(_account_of(Permission.CATALOGUE_WRITE))]
ProvidersWriter = Annotated[Account, Depends(_account_of(Permission.PROVIDERS_WRITE))]
SettingsWriter = Annotated[Account, Depends(_account_of(Permission.SETTINGS_WRITE))]
# The principal, not only the account: an impersonation is tied to the admin's session that opens it.
UsersImpersonator = Annotated[Principal, Depends(REQUIRE[Permission.USERS_IMPERSONATE])]
AuditReader = Annotated[Account, Depends(_account_of(Permission.AUDIT_READ))]
ConversationsReader = Annotated[Account, Depends(_account_of(Permission.CONVERSATIONS_READ))]
ModerationReviewer = Annotated[Account, Depends(_account_of(Permission.MODERATION_REVIEW))]
NotificationsSender = Annotated[Account, Depends(_account_of(Permission.NOTIFICATIONS_SEND))]
AlertsWriter = Annotated[Account, Depends(_account_of(Permission.ALERTS_WRITE))]
