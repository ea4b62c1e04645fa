"""Infrastructure dependencies: the settings and a database session.

Who is calling (authentication, permissions, the request's context) is the auth domain's: api/auth/deps.py.
(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.settings import Settings


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
    """The client's address: from the trusted proxy's header when one is configured, else the TCP peer."""
    if settings.client_ip_header:
        forwarded = request.headers.get(settings.client_ip_header, "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.client.host if request.client else None
