"""The one module through which the portal talks to the API (over HTTP: the portal never imports `api`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from portal import forwarding


class ApiError(Exception):
    """A refusal: its status, stable code, the API's (English) message and extra fields (`retry_after`)."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


def path_id(raw: str, what: str) -> str:
    """A UUID from a form or an address, as it goes into an API path; not one: the refusal the API gives
    for an id it does not know (404 not_found), so nothing malformed reaches the API."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, "not_found", f"no such {what}") from None


class ApiClient:
    def __init__(
        self, base_url: str, timeout: float, forwarding_key: Callable[[], str | None] = lambda: None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.forwarding_key = forwarding_key  # signs the user's browser into each call (portal/forwarding.py)

    def headers(self, token: str | None = None) -> dict[str, str]:
        """The headers of a call (as the signed-in user when `token`)."""
        headers = {"X-Client": "portal"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        *,
        raw: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The API's answer, parsed (`raw`: the httpx response itself, as a file to pass on); a refusal
        raises ApiError."""
        headers = self.headers(token) | (headers or {})
        if "locale" in (body or {}):
            headers["Accept-Language"] = body["locale"]
        try:
            with httpx.Client(timeout=self.timeout) as client:
                request = client.build_request(method, f"{self.base_url}{path}", json=body, headers=headers)
                response = client.send(self.sign(request))
        except httpx.HTTPError as exc:
            raise ApiError(503, "api_unreachable", f"the API is unreachable: {exc}") from exc
        if response.is_success:
            if raw:
                return response
            return response.json() if response.content else None
        raise self.error_of(response.status_code, response.content)

    def sign(self, request: httpx.Request) -> httpx.Request:
        """`request` with the user's browser (address, User-Agent) signed in for this very request: its
        method, target as sent and token (portal/forwarding.py). Every call to the API goes through it."""
        request.headers.update(forwarding.headers(self.forwarding_key(), request))
        return request

    @staticmethod
    def error_of(status: int, content: bytes) -> ApiError:
        """The refusal an answer of `status` with body `content` is (the API's error envelope)."""
        try:
            error = json.loads(content)["error"]
            extra = {k: v for k, v in error.items() if k not in ("code", "message", "type")}
            return ApiError(status, str(error["code"]), str(error["message"]), extra)
        except (ValueError, KeyError, TypeError):
            return ApiError(status, "http_error", content[:200].decode("utf-8", "replace"))


class SignedOut(Exception):
    """The user's session is over: the access token was refused and the refresh token too."""


class SignedInCaller:
    """The API as the signed-in user, for one request. An access token the API refuses (401: expired) is
    renewed once with the refresh token, which the API then spends (rotation): `renewed` says the new pair
    in `session` must go back into the cookie. A refresh the API refuses raises `SignedOut`."""

    def __init__(self, api: ApiClient, session: dict[str, Any]) -> None:
        self.api = api
        self.session = session
        self.renewed = False

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> Any:
        """`ApiClient.call` as the user (`options`: its `raw`, `headers`)."""
        try:
            return self._as_user(method, path, body, options)
        except SignedOut:
            if self.renewed:
                raise
        self.renew()
        return self._as_user(method, path, body, options)

    def _as_user(self, method: str, path: str, body: Any, options: dict[str, Any]) -> Any:
        try:
            return self.api.call(method, path, body, token=self.session["access"], **options)
        except ApiError as exc:
            if exc.status == 401 and exc.code == "not_authenticated":  # not a wrong code in a form (otp_*)
                raise SignedOut() from exc
            raise

    def renew(self) -> None:
        try:
            pair = self.api.call("POST", "/api/v1/auth/refresh", {"refresh_token": self.session["refresh"]})
        except ApiError as exc:
            if exc.status in (400, 401, 403, 422):
                raise SignedOut() from exc
            raise
        self.session = {**self.session, "access": pair["access_token"], "refresh": pair["refresh_token"]}
        self.renewed = True

    async def stream(self, method: str, path: str, body: Any = None) -> Upstream:
        """The API's answer as it comes, its head read (a refusal raises ApiError): for an answer to pass on
        while it is written (a streamed completion, a large export). The access token is renewed once, as
        `call` does (the renewal itself is a short call, made in a worker thread)."""
        for attempt in (1, 2):
            client = httpx.AsyncClient(timeout=httpx.Timeout(self.api.timeout, read=None))
            request = client.build_request(
                method,
                f"{self.api.base_url}{path}",
                json=body,
                headers=self.api.headers(self.session["access"]),
            )
            try:
                response = await client.send(self.api.sign(request), stream=True)
            except httpx.HTTPError as exc:
                await client.aclose()
                raise ApiError(503, "api_unreachable", f"the API is unreachable: {exc}") from exc
            if response.is_success:
                return Upstream(response, client)
            content = await response.aread()
            await response.aclose()
            await client.aclose()
            error = self.api.error_of(response.status_code, content)
            if error.status == 401 and error.code == "not_authenticated" and attempt == 1:
                await run_in_threadpool(self.renew)
                continue
            if error.status == 401 and error.code == "not_authenticated":
                raise SignedOut()
            raise error
        raise AssertionError("unreachable")


class Upstream:
    """An answer of the API being read as it comes, and its connection, closed together."""

    def __init__(self, response: httpx.Response, client: httpx.AsyncClient) -> None:
        self.response = response
        self.client = client

    async def aclose(self) -> None:
        await self.response.aclose()
        await self.client.aclose()
