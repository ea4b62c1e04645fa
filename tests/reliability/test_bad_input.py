"""Bad input: oversized bodies, deep nesting, invalid UTF-8, huge messages, wild numbers and unknown fields.

Each gets a 4xx with a stable code, and nothing is written: every table keeps its row count and the
caller's balance is unchanged (api/core/request_guard.py refuses most of it before any route runs).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select, update

from aiadmin.permissions_doc import api_routes
from api.accounts.models import Plan
from api.catalogue.models import LlmModel
from api.core.db import make_sync_engine
from api.main import create_app
from api.models import metadata
from tests.reliability.profile import report
from tests.support.api import completion_body, db_execute, grant_credits, sign_up, staff_headers

COMPLETIONS = "/v1/chat/completions"
JSON = {"Content-Type": "application/json"}


def table_counts(settings) -> dict[str, int]:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def chat(**extra) -> bytes:
    return json.dumps({**completion_body(), **extra}).encode()


def message(**extra) -> bytes:
    """A completion whose one message carries `extra`."""
    body = {"model": "mock-small", "messages": [{"role": "user", "content": "hi", **extra}]}
    return json.dumps(body).encode()


def raw(field: bytes) -> bytes:
    """A completion with a field written as raw JSON text (what json.dumps would never write)."""
    return chat().replace(b"{", b"{" + field + b",", 1)


def messages(count: int, content: str = "hi") -> bytes:
    body = {"model": "mock-small", "messages": [{"role": "user", "content": content}] * count}
    return json.dumps(body).encode()


def bad_cases(limit: int) -> list[tuple[str, str, bytes, int, str]]:
    """(what, path, raw body, status, code) for the gateway and the user's own API."""
    top_up = "/api/v1/me/balance/top-up"
    return [
        # Oversized.
        ("body over the limit", COMPLETIONS, chat(pad="x" * limit), 413, "body_too_large"),
        ("top-up over the limit", top_up, b'{"amount": 1, "currency": "USD", "p": "' + b"x" * limit + b'"}',
         413, "body_too_large"),
        # Deep nesting: past the limit, and far past what Python's parser can recurse into.
        ("metadata nested 33 deep", COMPLETIONS, chat(metadata=nested(33)), 400, "json_too_deep"),
        ("100,000 nested arrays", COMPLETIONS, b"[" * 100_000 + b"]" * 100_000, 400, "json_too_deep"),
        ("33 nested lists in a message", COMPLETIONS, message(content=nested(33)), 400, "json_too_deep"),
        # Invalid UTF-8 and text no database can store.
        ("invalid UTF-8", COMPLETIONS, chat().replace(b"Hello", b"\xff\xfeHello"), 400, "invalid_utf8"),
        ("overlong UTF-8", top_up, b'{"amount": 1, "currency": "\xc0\xafUSD"}', 400, "invalid_utf8"),
        ("a lone surrogate", COMPLETIONS, chat().replace(b"Hello", b"\\ud800Hello"), 400, "invalid_utf8"),
        ("a NUL character", COMPLETIONS, chat().replace(b"Hello", b"\\u0000Hello"), 422, "validation_error"),
        ("not JSON", COMPLETIONS, b'{"model": "mock-small", "messages": [', 400, "invalid_json"),
        ("a bare string", COMPLETIONS, b'"hello"', 422, "validation_error"),
        # Huge messages.
        ("a 200,001-character message", COMPLETIONS, messages(1, "x" * 200_001), 422, "validation_error"),
        ("1,001 messages", COMPLETIONS, messages(1001), 422, "validation_error"),
        # Negative and enormous numbers.
        ("max_tokens -1", COMPLETIONS, chat(max_tokens=-1), 422, "validation_error"),
        ("max_tokens 10^30", COMPLETIONS, chat(max_tokens=10**30), 422, "validation_error"),
        ("a 5,000-digit max_tokens", COMPLETIONS, raw(b'"max_tokens": ' + b"9" * 5000),
         400, "invalid_json"),
        ("temperature 1e999", COMPLETIONS, raw(b'"temperature": 1e999'), 400, "invalid_json"),
        ("temperature NaN", COMPLETIONS, raw(b'"temperature": NaN'), 400, "invalid_json"),
        ("temperature -Infinity", COMPLETIONS, raw(b'"temperature": -Infinity'),
         400, "invalid_json"),
        ("a negative top-up", top_up, b'{"amount": -5, "currency": "USD"}', 422, "validation_error"),
        ("a top-up of 10^20", top_up, b'{"amount": 1e20, "currency": "USD"}', 422, "validation_error"),
        ("a top-up of 0.001", top_up, b'{"amount": 0.001, "currency": "USD"}', 422, "validation_error"),
        # Unknown fields.
        ("an unknown top-level field", COMPLETIONS, chat(admin=True), 422, "validation_error"),
        ("an unknown message field", COMPLETIONS, message(secret="x"), 422, "validation_error"),
        ("an unknown stream option", COMPLETIONS, chat(stream_options={"evil": 1}), 422, "validation_error"),
        ("17 metadata pairs", COMPLETIONS, chat(metadata={f"k{i}": "v" for i in range(17)}), 422,
         "validation_error"),
        ("an unknown top-up field", top_up, b'{"amount": 1, "currency": "USD", "bonus": 100}', 422,
         "validation_error"),
    ]  # fmt: skip


@pytest.mark.both_databases  # what each database can store (PostgreSQL: no NUL)
def test_bad_input_is_refused_with_a_stable_code_and_nothing_is_written(settings, client):
    headers = sign_up(client, "bad-input@example.com", settings)
    grant_credits(settings, "bad-input@example.com", 10)
    before = table_counts(settings)
    balance = client.get("/api/v1/me/balance", headers=headers).json()["balance"]

    cases = bad_cases(settings.max_body_bytes)
    for what, path, body, status, code in cases:
        response = client.post(path, content=body, headers={**headers, **JSON})
        assert response.status_code == status, (what, response.text[:300])
        assert response.json()["error"]["code"] == code, (what, response.text[:300])

    assert client.get("/api/v1/me/balance", headers=headers).json()["balance"] == balance
    assert table_counts(settings) == before
    report("bad_input", f"bodies ({settings.database_url.split(':')[0]})", cases=len(cases), written=0)


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(settings, client):
    headers = sign_up(client, "chunked@example.com", settings)
    before = table_counts(settings)
    piece = b" " * 65_536

    def chunks():  # no Content-Length: the guard counts what arrives
        yield b'{"model": "mock-small", "messages": [{"role": "user", "content": "hi"}], "pad": "'
        for _ in range(settings.max_body_bytes // len(piece) + 2):
            yield piece
        yield b'"}'

    response = client.post(COMPLETIONS, content=chunks(), headers={**headers, **JSON})
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    assert table_counts(settings) == before


def test_nul_and_invalid_utf8_in_the_url_are_400_invalid_url(settings, client):
    admin = staff_headers(client, settings, "admin")
    before = table_counts(settings)
    for url in (
        "/api/v1/admin/users?search=%00",
        "/api/v1/admin/users?search=%ff%fe",
        "/api/v1/admin/users/%00",
        "/api/v1/chats/%c0%af",
    ):
        response = client.get(url, headers=admin)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "invalid_url", url
    assert table_counts(settings) == before


def test_admin_writes_refuse_wild_numbers_and_unknown_fields(settings, client):
    admin = staff_headers(client, settings, "admin")
    user = sign_up(client, "target@example.com", settings)
    account_id = client.get("/api/v1/me", headers=user).json()["id"]
    before = table_counts(settings)
    balance = f"/api/v1/admin/users/{account_id}/balance"
    plan = f"/api/v1/admin/users/{account_id}/plan"
    for path, body in (
        (balance, {"amount": 10**12, "reason": "too much"}),
        (balance, {"amount": "1e400", "reason": "overflow"}),
        (balance, {"amount": 1.0000001, "reason": "finer than the ledger"}),
        (balance, {"amount": 5, "reason": "ok", "approved_by": "me"}),
        (plan, {"plan": "pro", "reason": "x", "price": 0}),
        (plan, {"plan": "x" * 33}),
        (plan, {"plan": ["pro"]}),
    ):
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error", body
    assert table_counts(settings) == before


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def test_every_request_body_refuses_unknown_fields(settings):
    """The rule for routes yet to come: a request schema (and every schema inside it) forbids extras."""
    app = create_app(settings)
    seen: set[type[BaseModel]] = set()
    lenient = []
    pending = [
        model
        for route in api_routes(app.routes)
        if route.body_field is not None
        for model in _models(route.body_field.field_info.annotation)
    ]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        if model.model_config.get("extra") != "forbid":
            lenient.append(model.__qualname__)
        pending.extend(m for field in model.model_fields.values() for m in _models(field.annotation))
    assert len(seen) > 20, seen  # the walk found the schemas
    assert lenient == [], f"request schemas that accept unknown fields: {lenient}"


@pytest.mark.parametrize("size", [1024 * 1024])
@pytest.mark.both_databases  # a large value stored and read back
def test_a_large_but_allowed_body_still_works(settings, client, size):
    """The guard refuses the excess, not the large: a 1 MiB prompt under the limit is answered (by a model
    whose context holds it, on a plan whose tokens do)."""
    headers = sign_up(client, "large@example.com", settings)
    db_execute(
        settings,
        update(LlmModel).where(LlmModel.id == "mock-small").values(context_length=2_000_000),
        update(Plan).where(Plan.code == "free").values(tokens_per_day=None, tokens_per_month=None),
    )
    content = "word " * (size // 5)
    body = {"model": "mock-small", "messages": [{"role": "user", "content": content[:199_000]}] * 5}
    response = client.post(COMPLETIONS, json=body, headers=headers)
    assert response.status_code == 200, response.text[:300]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/audit",
        "/api/v1/admin/audit/export",
        "/api/v1/admin/errors",
        "/api/v1/admin/notifications/deliveries",
        "/api/v1/admin/alerts/history",
        "/api/v1/admin/alerts/history/export",
    ],
)
@pytest.mark.both_databases  # timestamp ranges differ
def test_time_filters_take_naive_times_as_utc_and_refuse_what_utc_cannot_hold(settings, client, path):
    # 0001-01-01T00:00 at +00:01 is in year 0 in UTC: it was a 500 (found by the long schema fuzz).
    admin = staff_headers(client, settings, "admin")
    for moment, status in (("0001-01-01T00:00:00+00:01", 422), ("9999-12-31T23:59:59-00:01", 422),
                           ("2026-01-01T00:00:00", 200), ("2026-01-01T00:00:00+05:00", 200)):  # fmt: skip
        response = client.get(path, params={"since": moment, "until": moment}, headers=admin)
        assert response.status_code == status, (moment, response.text)
        if status == 422:
            assert response.json()["error"]["code"] == "validation_error"
