"""Headers that every answer of the API carries, whatever route (or door) answered it.

- `X-Content-Type-Options: nosniff`: a browser never reads a JSON or CSV answer as HTML or script.
- `Cache-Control: no-store`, unless the route set its own: answers hold tokens (sign-in, refresh, 2FA
  set-up, new API keys, impersonation) and personal data, and no browser or proxy cache may keep them.
  On every answer rather than a list of routes, so a new route that returns a secret is covered too.
- `Strict-Transport-Security` when the API is reached over TLS (AIADMIN_HSTS, on for an https public URL).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers.setdefault("Cache-Control", "no-store")
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)
