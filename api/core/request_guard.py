"""The door every request passes before routing: what no route should have to think about is refused here.

- a body over `max_body_bytes` (declared or streamed): 413 `body_too_large`, before it is read whole;
- a JSON body that is not UTF-8, or holds a lone surrogate (valid JSON, but no database can store it):
  400 `invalid_utf8`;
- a JSON body that does not parse, or holds NaN, Infinity or a number too large to represent:
  400 `invalid_json`;
- a JSON body nested deeper than `max_json_depth`: 400 `json_too_deep`;
- a NUL character in a JSON string (PostgreSQL text cannot hold it): 422 `validation_error`, shaped
  like the schemas' own errors, with the place in the body;
- a NUL character or invalid UTF-8 in the path or the query string: 400 `invalid_url`.

Nothing behind the guard runs for a refused request, so nothing is written. The body, once accepted, is
handed on as it came; later `receive` calls reach the server, so a client's disconnect is still seen.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.core.errors import error_body


class RequestRefused(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_url(scope)
            body = await self._read_body(scope, receive)
            if body and _is_json(scope):
                check_json(body, self.max_json_depth)
        except RequestRefused as refused:
            await _refuse(send, refused)
            return
        if body is None:
            await self.app(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None when the request has none to read (no length, not chunked)."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"chunked" not in headers.get(b"transfer-encoding", b""):
            return None
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break  # the app sees an empty body and the disconnect on its next receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts)


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(413, "body_too_large", f"the request body is over {limit} bytes", limit=limit)


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type == b"application/json" or content_type.endswith(b"+json")


def _check_url(scope: Scope) -> None:
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    for part, raw in (("path", raw_path), ("query string", scope.get("query_string", b""))):
        decoded = unquote_to_bytes(raw)
        if b"\x00" in decoded:
            raise RequestRefused(400, "invalid_url", f"the {part} holds a NUL character")
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestRefused(400, "invalid_url", f"the {part} is not valid UTF-8") from None


def _refuse_constant(name: str) -> None:
    raise RequestRefused(400, "invalid_json", f"the body is not valid JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RequestRefused(400, "invalid_json", f"the number {text[:24]} is too large to represent")
    return value


def check_json(body: bytes, max_depth: int) -> None:
    """Refuse a body FastAPI's parser would choke on or a database would, before a route reads it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRefused(400, "invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise RequestRefused(400, "json_too_deep", f"the body is nested deeper than {max_depth}") from None
    except json.JSONDecodeError as exc:
        message = f"the body is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        raise RequestRefused(400, "invalid_json", message) from None
    except ValueError:  # Python's guard against integers of more than 4,300 digits
        raise RequestRefused(400, "invalid_json", "a number in the body has too many digits") from None
    _walk(value, max_depth)


def _walk(value: Any, max_depth: int) -> None:
    """Depth, lone surrogates and NUL characters, without recursion (the depth is what is being checked)."""
    stack: list[tuple[Any, tuple, int]] = [(value, (), 1)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node, where)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise RequestRefused(400, "json_too_deep", f"the body is nested deeper than {max_depth}")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if isinstance(key, str):
                _check_text(key, where)
            stack.append((item, (*where, key), depth + 1))


def _check_text(text: str, where: tuple) -> None:
    if text.isascii():
        if "\x00" in text:
            raise _nul(where)
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestRefused(
            400, "invalid_utf8", "the body holds a lone surrogate (\\ud800-\\udfff), which is not text"
        ) from None
    if "\x00" in text:
        raise _nul(where)


def _nul(where: tuple) -> RequestRefused:
    loc = ["body", *where]
    place = ".".join(str(p) for p in where)
    message = "must not contain NUL characters"
    return RequestRefused(
        422,
        "validation_error",
        f"{place}: {message}" if place else message,
        details=[{"loc": loc, "msg": message, "type": "value_error"}],
    )


async def _refuse(send: Send, refused: RequestRefused) -> None:
    body = json.dumps(
        error_body(refused.code, refused.message, "invalid_request_error", **refused.extra)
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if refused.status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
