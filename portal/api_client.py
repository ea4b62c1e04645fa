"""The one module through which the portal talks to the API (over HTTP: the portal never imports `api`)."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """A refusal: its status, stable code, the API's (English) message and extra fields (`retry_after`)."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


class ApiClient:
    def __init__(self, base_url: str, timeout: float, client_ip: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client_ip = client_ip

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"X-Client": "portal"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if "locale" in (body or {}):
            headers["Accept-Language"] = body["locale"]
        try:
            response = httpx.request(
                method, f"{self.base_url}{path}", json=body, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise ApiError(503, "api_unreachable", f"the API is unreachable: {exc}") from exc
        if response.is_success:
            return response.json() if response.content else None
        try:
            error = response.json()["error"]
            extra = {k: v for k, v in error.items() if k not in ("code", "message", "type")}
            raise ApiError(response.status_code, error["code"], error["message"], extra)
        except (ValueError, KeyError, TypeError):
            raise ApiError(response.status_code, "http_error", response.text[:200]) from None
