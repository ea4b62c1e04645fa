"""The end user's address and browser, sent with every API call the portal makes for them, signed.

The API sees the portal's server as its client: without this, its per-address limits (failed sign-ins,
mails) would count every portal user as one address, and sessions and logs would show the portal's. So
`ForwardBrowser` keeps the browser's address and User-Agent of the request being served in a context
variable, and `ApiClient.call` sends them in `X-Portal-*` headers signed under the portal's forwarding key
for that very API request (method, target, Authorization; `signed_origin`, as the panel does). The API
believes them only when the signature verifies. The key is AIADMIN_PORTAL_FORWARDING_KEY, else the file the
API made in $AIADMIN_DATA_DIR/portal_forwarding_key; with neither, nothing is forwarded. It is not the
portal's cookie key (AIADMIN_PORTAL_KEY), which the API must never hold. See
docs/decisions/0051-portal-forwards-the-users-address.md.

The browser's address is the socket's peer; behind proxies of the portal's own, the entry
AIADMIN_PORTAL_TRUSTED_PROXIES places from the right of X-Forwarded-For (0 by default: the header ignored).
"""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar

import httpx
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

import signed_origin

_browser: ContextVar[signed_origin.Origin | None] = ContextVar("portal_browser", default=None)


def browser() -> signed_origin.Origin | None:
    """The browser of the request being served (None outside one, or when its address is not an IP)."""
    return _browser.get()


def origin_of(scope: Scope, trusted_proxies: int) -> signed_origin.Origin | None:
    headers = Headers(scope=scope)
    peer = scope["client"][0] if scope.get("client") else None
    ip = signed_origin.forwarded_client(peer, headers.getlist("x-forwarded-for"), trusted_proxies)
    try:
        ip = str(ipaddress.ip_address(ip or ""))
    except ValueError:  # no peer, or a test client's name: nothing to forward
        return None
    return signed_origin.Origin(ip, signed_origin.header_text(headers.get("user-agent", "")))


class ForwardBrowser:
    """ASGI middleware: the browser of each HTTP request, for the API calls made while serving it."""

    def __init__(self, app: ASGIApp, trusted_proxies: int = 0) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _browser.set(origin_of(scope, self.trusted_proxies))
        try:
            await self.app(scope, receive, send)
        finally:
            _browser.reset(token)


def headers(key: str | None, request: httpx.Request) -> dict[str, str]:
    """The signed headers for `request` on behalf of the browser being served; none without one or a key."""
    origin = browser()
    if origin is None or not key:
        return {}
    target = request.url.raw_path.decode("ascii")
    bound = signed_origin.Bound(request.method, target, request.headers.get("authorization", ""))
    return signed_origin.sign(signed_origin.PORTAL, key, origin, bound)
