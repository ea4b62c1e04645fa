"""Typed dependencies: a route signature reads like its contract."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.errors import AccountBlocked, Forbidden, NotAuthenticated
from api.core.security import decode_access_token
from api.core.settings import Settings
from api.events.outbox import RequestContext
from api.users import repository as users
from api.users.models import Account

_bearer = HTTPBearer(auto_error=False)
_CLIENT = re.compile(r"^[a-z0-9_.-]{1,32}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_request_context(request: Request, settings: SettingsDep) -> RequestContext:
    """Country from the trusted proxy header, client app from `X-Client` (web, telegram, api, …)."""
    country = (request.headers.get(settings.country_header) or "").strip().upper()
    client = (request.headers.get("x-client") or "api").strip().lower()
    return RequestContext(
        country=country if _COUNTRY.match(country) else None,
        client=client if _CLIENT.match(client) else "other",
        ip=request.client.host if request.client else None,
    )


RequestCtx = Annotated[RequestContext, Depends(get_request_context)]


async def get_current_account(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Account:
    """The caller, read from the database on every request so a block takes effect at once."""
    if credentials is None:
        raise NotAuthenticated("missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    account_id = decode_access_token(settings, credentials.credentials)
    account = await users.get_account(session, account_id) if account_id else None
    if account is None:
        raise NotAuthenticated("invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    if account.is_blocked:
        raise AccountBlocked("this account is blocked")
    return account


CurrentAccount = Annotated[Account, Depends(get_current_account)]


async def get_current_staff(account: CurrentAccount) -> Account:
    if not account.is_staff:
        raise Forbidden("staff only")
    return account


CurrentStaff = Annotated[Account, Depends(get_current_staff)]
