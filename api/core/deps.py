"""Infrastructure dependencies: the settings and a database session.

Who is calling (authentication, permissions, the request's context) is the auth domain's: api/auth/deps.py.
(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

import ipaddress
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.forwarded import staff_origin, user_agent_text
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
    """The client's address: the one function every reader of it (the request context, the security log,
    the audit log, the throttles) goes through. For the panel's calls, the staff member's browser that the
    panel signed (api/core/forwarded.py); else see `forwarded_client`."""
    if origin := staff_origin(request, settings.panel_key.get_secret_value()):
        return origin.ip
    peer = request.client.host if request.client else None
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), settings.trusted_proxies)


def client_user_agent(request: Request, settings: Settings) -> str | None:
    """The client's User-Agent: the staff member's browser's for the panel's signed calls, else the header."""
    if origin := staff_origin(request, settings.panel_key.get_secret_value()):
        return origin.user_agent
    return user_agent_text(request.headers.get("user-agent"))


def forwarded_client(peer: str | None, forwarded_for: list[str], trusted_proxies: int) -> str | None:
    """The address of whoever reached the first of `trusted_proxies` proxies in front of the API.

    Each proxy appends the address it was reached from to `X-Forwarded-For`, and the last one is the TCP
    peer: the client is the entry `trusted_proxies` places from the right. Whatever stands left of it
    was written by the client and is never read. With no trusted proxy the header is ignored; an entry
    that is not an IP address, or a header with fewer entries than proxies (the request did not come
    through all of them), gives the peer.
    """
    if trusted_proxies == 0:
        return peer
    entries = [entry.strip() for value in forwarded_for for entry in value.split(",")]
    if len(entries) < trusted_proxies:
        return peer
    return _ip_address(entries[-trusted_proxies]) or peer


def _ip_address(entry: str) -> str | None:
    """`entry` as a normalised IP address (a port, `1.2.3.4:5678` or `[::1]:5678`, dropped), else None."""
    if entry.startswith("[") and "]" in entry:
        entry = entry[1 : entry.index("]")]
    elif entry.count(":") == 1:
        entry = entry.split(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None
