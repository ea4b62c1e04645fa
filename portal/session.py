"""The signed-in user's API tokens, kept in the browser, and the CSRF check of every form
(docs/decisions/0049-portal-stack-session-cookie-and-csrf.md).

- Session: `portal_session`, the tokens encrypted and authenticated with Fernet under a key derived from
  the portal key: HttpOnly, SameSite=Lax, Secure when the page came over https. No server-side state, so
  any portal process can serve any request.
- CSRF: signed double submit. `portal_csrf` holds a random nonce (HttpOnly); every form carries
  HMAC(key, nonce) in a hidden field; a POST whose field does not match its cookie's nonce is refused
  (403), as is one whose Origin header names another site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

SESSION_COOKIE = "portal_session"
CSRF_COOKIE = "portal_csrf"
SESSION_DAYS = 30  # the API's refresh token lives as long by default (AIADMIN_REFRESH_TOKEN_DAYS)


def _derived(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, purpose, hashlib.sha256).digest()


class Keys:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derived(key, b"portal session")))
        self._csrf = _derived(key, b"portal csrf")

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def open(self, sealed: str | None) -> dict[str, Any] | None:
        if not sealed:
            return None
        try:
            return json.loads(self._fernet.decrypt(sealed.encode(), ttl=SESSION_DAYS * 86400))
        except (InvalidToken, ValueError):
            return None

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self._csrf, nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request, submitted: str) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not submitted:
            return False
        if not hmac.compare_digest(self.csrf_token(nonce), submitted):
            return False
        origin = request.headers.get("origin")
        return origin is None or origin == _own_origin(request)


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def csrf_nonce(request: Request) -> str:
    """The browser's CSRF nonce, or a new one (set on the response by `keep_nonce`)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def keep_nonce(request: Request, response: Response, nonce: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=_secure(request), path="/"
        )


def set_session(request: Request, response: Response, keys: Keys, data: dict[str, Any]) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        keys.seal(data),
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
