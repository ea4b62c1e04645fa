"""The one module through which the panel talks to the API. Pages never import `api`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from dashboard import forwarding
from dashboard.settings import get_dashboard_settings


class ApiError(Exception):
    """A refusal: its status, stable code, the API's (English) message, and the specifics the message names,
    by name (`params`, e.g. the role and the permission it lacks), for i18n.error to word in any language."""

    def __init__(self, status: int, code: str, message: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.params = params or {}


class SessionEnded(ApiError):
    """The staff member's session cannot go on (revoked, blocked, signed out elsewhere, its refresh token
    refused): the panel signs them out and asks them to sign in again, it shows no error box."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "session_ended", message)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# One HTTP client for the whole panel process (every session, page, fragment and download): its connections
# to the API stay open between calls, instead of a new connection and TLS context per call (httpx.request
# builds both each time: most of a small call's cost). Idle connections are dropped after 4 s, before the
# API's own keep-alive (uvicorn: 5 s) closes them under a request. httpx.Client is safe across threads.
# It keeps no cookies: one jar would be shared by every staff member's calls.
_HTTP = httpx.Client(
    limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=4),
    cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
)


# How long before its expiry an access token is replaced: longer than any call the panel makes, so no call
# starts with a token that dies on the way (docs/decisions/0038-panel-refreshes-ahead-of-expiry.md).
REFRESH_AHEAD = timedelta(seconds=60)


@dataclass(eq=False)
class Credentials:
    """A signed-in staff member's tokens, shared by every client, page, fragment and download of their panel
    session. The access token is replaced `REFRESH_AHEAD` before it expires, under a lock: however many calls
    find it due at once, one refresh is made (a refresh token is good once; showing it again revokes the
    session). `clock` is "now" (injected by tests)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    clock: Callable[[], datetime] = field(default=_utcnow, repr=False)
    ended: str | None = None  # why the session ended, once it has
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def issued(cls, tokens: dict[str, Any], clock: Callable[[], datetime] = _utcnow) -> Credentials:
        """The credentials of a token pair the API just issued (`/auth/login`)."""
        now = clock()
        return cls(
            tokens["access_token"],
            tokens["refresh_token"],
            now + timedelta(seconds=tokens["expires_in"]),
            clock,
        )

    def token(self, client: ApiClient) -> str:
        """An access token good for a call starting now: refreshed first when it is within `REFRESH_AHEAD`
        of expiry."""
        with self._lock:
            if self.clock() >= self.expires_at - REFRESH_AHEAD:
                self._refresh(client)
            return self.access_token

    def renew(self, client: ApiClient, refused: str) -> str:
        """After the API refused the access token `refused` (401): a new one, unless another call has
        already replaced it, in which case that one."""
        with self._lock:
            if self.access_token == refused:
                self._refresh(client)
            return self.access_token

    def _refresh(self, client: ApiClient) -> None:
        if self.ended is not None:
            raise SessionEnded(self.ended)
        try:
            tokens = client.request_tokens(self.refresh_token)
        except ApiError as exc:
            if exc.status >= 500:  # the API is away or failing: the session may well be fine
                raise
            self.ended = exc.message
            raise SessionEnded(exc.message) from exc
        now = self.clock()
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.expires_at = now + timedelta(seconds=tokens["expires_in"])


@dataclass(frozen=True)
class StaffSession:
    credentials: Credentials
    email: str
    role: str
    permissions: frozenset[str] = frozenset()
    must_enrol: bool = False  # the role needs TOTP and it has none yet: only enrolment is possible

    @property
    def token(self) -> str:
        """The access token as it is now (it changes as it is refreshed)."""
        return self.credentials.access_token

    @property
    def refresh_token(self) -> str:
        return self.credentials.refresh_token


class ApiClient:
    """Calls the API as nobody, with a fixed `token`, or as a signed-in staff member (`credentials`, kept
    fresh: see `Credentials`). `clock` dates the credentials a `login` makes (tests inject theirs)."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        *,
        credentials: Credentials | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ):
        settings = get_dashboard_settings()
        self.base_url = (base_url or settings.api_url).rstrip("/")
        self.token = token
        self.credentials = credentials
        self.timeout = timeout or settings.api_timeout_seconds
        self.clock = clock
        # The staff member's browser, taken where the client is made (in their script run) and sent, signed,
        # with every request, also with downloads that run after the script (dashboard/forwarding.py).
        self.origin = forwarding.browser()

    @classmethod
    def of(cls, staff: StaffSession, base_url: str | None = None) -> ApiClient:
        """A client acting as the signed-in staff member (their credentials, refreshed ahead of expiry)."""
        return cls(base_url, credentials=staff.credentials)

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v not in (None, "")})

    def post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self._request("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self._request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def download(self, path: str, **params: Any) -> bytes:
        """A file the API makes (an export): its bytes."""
        return self._request(
            "GET", path, raw=True, params={k: v for k, v in params.items() if v not in (None, "")}
        )

    def _request(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        if self.credentials is None:
            return self._send(method, path, self.token, raw=raw, **kwargs)
        token = self.credentials.token(self)
        try:
            return self._send(method, path, token, raw=raw, **kwargs)
        except ApiError as exc:
            if exc.code != "not_authenticated":  # only a refused access token is worth a refresh
                raise
        # Refused all the same (the API's clock ahead of ours, a restart with a new key): the call did
        # nothing, so it is made once more with a new token; refused again, the session is over.
        try:
            return self._send(method, path, self.credentials.renew(self, token), raw=raw, **kwargs)
        except ApiError as exc:
            if exc.code == "not_authenticated":
                raise SessionEnded(exc.message) from exc
            raise

    def request_tokens(self, refresh_token: str) -> dict[str, Any]:
        """A new token pair for `refresh_token`, which the API then spends (only `Credentials` calls this)."""
        return self._send("POST", "/api/v1/auth/refresh", None, json={"refresh_token": refresh_token})

    def _send(self, method: str, path: str, token: str | None, *, raw: bool = False, **kwargs: Any) -> Any:
        headers = {"X-Client": "admin-panel"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            request = _HTTP.build_request(
                method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout, **kwargs
            )
            # Signed for this very request: method, target and token (dashboard/forwarding.py).
            request.headers.update(forwarding.headers(self.origin, request))
            response = _HTTP.send(request)
        except httpx.HTTPError as exc:
            raise ApiError(
                503, "api_unreachable", f"the API at {self.base_url} is unreachable: {exc}"
            ) from exc
        if response.is_success:
            if raw:
                return response.content
            return response.json() if response.content else None
        try:
            error = response.json()["error"]
            params = error.get("params") if isinstance(error.get("params"), dict) else None
            raise ApiError(response.status_code, error["code"], error["message"], params)
        except (ValueError, KeyError, TypeError):
            raise ApiError(response.status_code, "http_error", response.text[:200]) from None

    def _staff_session(self, credentials: Credentials) -> StaffSession:
        me = ApiClient(self.base_url, timeout=self.timeout, credentials=credentials).me()
        if me["role"] == "user":
            raise ApiError(403, "not_staff", "this account is not a staff account")
        return StaffSession(
            credentials, me["email"], me["role"], frozenset(me["permissions"]), me["must_enrol_two_factor"]
        )

    def login(self, email: str, password: str, otp: str | None = None) -> StaffSession:
        """Log a staff member in; end-user accounts are refused."""
        body = {"email": email, "password": password} | ({"otp": otp} if otp else {})
        tokens = self._send("POST", "/api/v1/auth/login", None, json=body)
        return self._staff_session(Credentials.issued(tokens, self.clock))

    def revalidate(self, staff: StaffSession) -> StaffSession:
        """The staff member as the API sees them now (role, block), their token refreshed when due.

        Raises ApiError when they may no longer use the panel: blocked, demoted, or signed out elsewhere
        (`SessionEnded`).
        """
        me = ApiClient(self.base_url, timeout=self.timeout, credentials=staff.credentials).me()
        if me["role"] == "user":
            raise ApiError(403, "not_staff", "this account is no longer a staff account")
        return StaffSession(
            staff.credentials,
            me["email"],
            me["role"],
            frozenset(me["permissions"]),
            me["must_enrol_two_factor"],
        )

    def logout(self, staff: StaffSession) -> None:
        """End the staff member's session in the API; signing out of the panel works even if that fails."""
        try:
            ApiClient(self.base_url, timeout=self.timeout, credentials=staff.credentials).post(
                "/api/v1/auth/logout"
            )
        except ApiError:
            pass

    def me(self) -> dict[str, Any]:
        return self._request("GET", "/api/v1/me")
