"""The one module through which the panel talks to the API. Pages never import `api`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from dashboard import forwarding
from dashboard.settings import get_dashboard_settings


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class StaffSession:
    token: str
    refresh_token: str
    email: str
    role: str
    permissions: frozenset[str] = frozenset()
    must_enrol: bool = False  # the role needs TOTP and it has none yet: only enrolment is possible


class ApiClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float | None = None):
        settings = get_dashboard_settings()
        self.base_url = (base_url or settings.api_url).rstrip("/")
        self.token = token
        self.timeout = timeout or settings.api_timeout_seconds
        # The staff member's browser, taken where the client is made (in their script run) and sent, signed,
        # with every request, also with downloads that run after the script (dashboard/forwarding.py).
        self.origin = forwarding.browser()

    @classmethod
    def of(cls, staff: StaffSession) -> ApiClient:
        """A client acting as the signed-in staff member (their access token)."""
        return cls(token=staff.token)

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
        headers = {"X-Client": "admin-panel", **forwarding.headers(self.origin)}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = httpx.request(
                method, f"{self.base_url}{path}", headers=headers, timeout=self.timeout, **kwargs
            )
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
            raise ApiError(response.status_code, error["code"], error["message"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(response.status_code, "http_error", response.text[:200]) from None

    def _staff_session(self, tokens: dict[str, Any]) -> StaffSession:
        me = ApiClient(self.base_url, tokens["access_token"], self.timeout).me()
        if me["role"] == "user":
            raise ApiError(403, "not_staff", "this account is not a staff account")
        return StaffSession(
            tokens["access_token"],
            tokens["refresh_token"],
            me["email"],
            me["role"],
            frozenset(me["permissions"]),
            me["must_enrol_two_factor"],
        )

    def login(self, email: str, password: str, otp: str | None = None) -> StaffSession:
        """Log a staff member in; end-user accounts are refused."""
        body = {"email": email, "password": password} | ({"otp": otp} if otp else {})
        return self._staff_session(self._request("POST", "/api/v1/auth/login", json=body))

    def revalidate(self, staff: StaffSession) -> StaffSession:
        """The staff member as the API sees them now (role, block), refreshing an expired access token.

        Raises ApiError when they may no longer use the panel: blocked, demoted, or signed out elsewhere.
        """
        try:
            me = ApiClient(self.base_url, staff.token, self.timeout).me()
        except ApiError as exc:
            if exc.status != 401:
                raise
            tokens = self._request(
                "POST", "/api/v1/auth/refresh", json={"refresh_token": staff.refresh_token}
            )
            return self._staff_session(tokens)
        if me["role"] == "user":
            raise ApiError(403, "not_staff", "this account is no longer a staff account")
        return StaffSession(
            staff.token, staff.refresh_token, me["email"], me["role"], frozenset(me["permissions"]),
            me["must_enrol_two_factor"],
        )  # fmt: skip

    def logout(self, staff: StaffSession) -> None:
        """End the staff member's session in the API; signing out of the panel works even if that fails."""
        try:
            ApiClient(self.base_url, staff.token, self.timeout)._request("POST", "/api/v1/auth/logout")
        except ApiError:
            pass

    def me(self) -> dict[str, Any]:
        return self._request("GET", "/api/v1/me")
