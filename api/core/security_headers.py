"""Headers that every answer of the API carries, whatever route (or door) answered it.

- `X-Content-Type-Options: nosniff`: a browser never reads a JSON or CSV answer as HTML or script.
- `Cache-Control: no-store`, unless the route set its own: answers hold tokens (sign-in, refresh, 2FA
  set-up, new API keys, impersonation) and personal data, and no browser or proxy cache may keep them.
  On every answer rather than a list of routes, so a new route that returns a secret is covered too.
- `Strict-Transport-Security` when the API is reached over TLS (AIADMIN_HSTS, on for an https public URL).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.always = [_NOSNIFF, (b"strict-transport-security", HSTS.encode())] if hsts else [_NOSNIFF]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":  # raw headers: a few microseconds per answer
                headers = list(message.get("headers", ()))
                cached = any(name.lower() == b"cache-control" for name, _ in headers)
                message["headers"] = [*headers, *self.always, *(() if cached else (_NO_STORE,))]
            await send(message)

        await self.app(scope, receive, send_with_headers)
