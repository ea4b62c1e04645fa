"""Domain errors carry their HTTP status and a stable machine code; one handler renders them all.

The body follows the OpenAI error shape so that OpenAI clients surface the message and the code:
`{"error": {"code": "quota_exceeded", "message": "…", "type": "rate_limit_error", "param": null}}`.
A refusal whose message names specifics (which permission is missing, which model is in use) also gives them
as `params`, `{"role": "analyst", "permission": "providers:write"}`, so that a client can word the refusal in
its own language with them (the panel: dashboard/i18n.py `error`, docs/decisions/0046).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("aiadmin.api")


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    type: ClassVar[str] = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str | int] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra | ({"params": params} if params else {})


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    type = "authentication_error"


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"
    type = "authentication_error"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    type = "permission_error"


class AccountBlocked(AppError):
    status_code = 403
    code = "account_blocked"
    type = "permission_error"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    type = "not_found_error"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class EmailTaken(Conflict):
    code = "email_taken"


class DatabaseUnavailable(AppError):
    """The database unreachable, restarting or out of connections: the server's trouble, not a bug."""

    status_code = 503
    code = "database_unavailable"
    type = "api_error"

    def __init__(self, message: str = "the database is unavailable: try again shortly") -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class QuotaExceeded(AppError):
    status_code = 429
    code = "quota_exceeded"
    type = "rate_limit_error"


class ProviderUnavailable(AppError):
    status_code = 502
    code = "provider_error"
    type = "api_error"


class ErrorDetail(BaseModel):
    code: str
    message: str
    type: str
    param: str | None = None
    params: dict[str, str | int] | None = Field(
        default=None, description="the refusal's specifics, by name, for a client to word it in its language"
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: the 4xx it can return, each with its stable codes."""
    by_status: dict[int, list[str]] = {422: ["validation_error"]}
    for err in errors:
        by_status.setdefault(err.status_code, []).append(err.code)
    return {
        status: {"model": ErrorBody, "description": "error codes: " + ", ".join(codes)}
        for status, codes in sorted(by_status.items())
    }


def door_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` of the whole app: what api/core/request_guard.py answers before any route."""
    return {
        400: {"model": ErrorBody, "description": "error codes: invalid_json, invalid_utf8, json_too_deep, "
              "invalid_url"},
        413: {"model": ErrorBody, "description": "error codes: body_too_large"},
    }  # fmt: skip


def error_body(code: str, message: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": type_, "param": None, **extra}}


def install_error_handlers(
    app: FastAPI, on_unhandled: Callable[[Request, Exception], Awaitable[None]]
) -> None:
    """`on_unhandled` notes a 500 (the error log) before the client gets its body and request id."""

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.type, **exc.extra),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return JSONResponse(
            error_body("validation_error", message, "invalid_request_error", details=details),
            status_code=422,
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        # The database unreachable, restarting or out of connections is the server's trouble, not a bug:
        # a 503 the client may retry. The pool drops connections a disconnect broke, so the next request
        # reconnects. Any other database error is a bug.
        unavailable = isinstance(exc, PoolTimeout | OperationalError) or getattr(
            exc, "connection_invalidated", False
        )
        if not unavailable:
            return await _unexpected(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        unavailable = DatabaseUnavailable()
        return JSONResponse(
            error_body(unavailable.code, unavailable.message, unavailable.type),
            status_code=unavailable.status_code,
            headers=unavailable.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A 500 is a bug: log it whole, tell the client nothing of the internals.
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        await on_unhandled(request, exc)
        request_id = getattr(request.state, "request_id", None)
        return JSONResponse(
            error_body("internal_error", "internal server error", "api_error", request_id=request_id),
            status_code=500,
            headers={"X-Request-ID": request_id} if request_id else None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail), "invalid_request_error"),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
