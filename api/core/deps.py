"""Infrastructure dependencies: the settings and a database session.

Who is calling (authentication, permissions, the request's context) is the auth domain's: api/auth/deps.py.
(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.forwarded import forwarded_origin
from api.core.settings import Settings
from signed_origin import Origin, forwarded_client, user_agent_text


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


# scope="function": the session closes when the endpoint returns, before the response and any background
# task, so no transaction (and on SQLite no write lock) outlives the endpoint.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_ip(request: Request, settings: Settings) -> str | None:
    """The client's address: the one function every reader of it (the request context, the security log,
    the audit log, the throttles) goes through. For the panel's and the portal's calls, the browser they
    signed for (api/core/forwarded.py); else see `forwarded_client`."""
    if origin := _forwarded(request, settings):
        return origin.ip
    peer = request.client.host if request.client else None
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)


def client_user_agent(request: Request, settings: Settings) -> str | None:
    """The client's User-Agent: the browser's for the panel's and the portal's signed calls, else the
    header."""
    if origin := _forwarded(request, settings):
        return origin.user_agent
    return user_agent_text(request.headers.get("user-agent"))


def _forwarded(request: Request, settings: Settings) -> Origin | None:
    return forwarded_origin(
        request, settings.panel_key.get_secret_value(), settings.portal_forwarding_key.get_secret_value()
    )
