from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import openai
import pytest
from sqlalchemy import select

from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from tests.support.api import completion_body, event_counts, login, sign_up


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.mark.both_databases  # the fast lane on PostgreSQL writes the call
def test_the_official_openai_client_lists_models_and_gets_a_completion_with_usage(live_server, settings):
    with httpx.Client(base_url=live_server.url) as http:
        headers = sign_up(http, "ada@example.com", settings)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=_token(headers), max_retries=0)

    assert {m.id for m in client.models.list()} == {"mock-small"}  # the free plan: free-tier models only
    completion = client.chat.completions.create(
        model="mock-small",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Fix: me goes home"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert "me goes home" in completion.choices[0].message.content
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )

    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        event = conn.execute(select(UsageEvent).where(UsageEvent.type == "llm.call_succeeded")).one()
    engine.dispose()
    assert (event.input_tokens, event.output_tokens) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )
    assert event.model_id == "mock-small" and event.provider == "mock" and event.plan == "free"
    assert event.cost_usd > 0 and event.latency_ms is not None and event.status == "ok"
    assert completion.id == f"chatcmpl-{event.event_id.hex}"


@pytest.mark.both_databases  # quotas: an upsert, gateway_take on PostgreSQL
def test_fourth_call_on_free_plan_is_refused_with_429_quota_exceeded(live_server, settings, clock):
    clock.set(clock.next_midnight() - timedelta(minutes=90))  # 90 minutes before the UTC day ends
    with httpx.Client(base_url=live_server.url) as http:
        headers = sign_up(http, "ada@example.com", settings)
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=_token(headers), max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="mock-small", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="mock-small", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 429
    assert refused.value.code == "quota_exceeded"
    assert int(refused.value.response.headers["Retry-After"]) == 90 * 60  # until the day's quota resets
    counts = event_counts(settings)
    assert counts["llm.call_succeeded"] == 3 and counts["quota.exceeded"] == 1

    clock.set(clock.next_midnight())  # a new UTC day (and a new sign-in: the access token has expired)
    with httpx.Client(base_url=live_server.url) as http:
        client = openai.OpenAI(
            base_url=f"{live_server.url}/v1", api_key=login(http, "ada@example.com"), max_retries=0
        )
    for _ in range(3):
        client.chat.completions.create(model="mock-small", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="mock-small", messages=[{"role": "user", "content": "hi"}])
    assert int(refused.value.response.headers["Retry-After"]) == 24 * 3600
    counts = event_counts(settings)
    assert counts["llm.call_succeeded"] == 6 and counts["quota.exceeded"] == 2


@pytest.mark.both_databases  # concurrent quota takes
def test_twenty_simultaneous_completions_for_one_free_user_let_exactly_three_through(
    live_server, settings, clock
):
    with httpx.Client(base_url=live_server.url) as http:
        headers = sign_up(http, "ada@example.com", settings)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live_server.url, headers=headers, timeout=60) as http:
            responses = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=completion_body()) for _ in range(20))
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert sorted(statuses) == [200] * 3 + [429] * 17
    counts = event_counts(settings)
    assert counts["llm.call_succeeded"] == 3
    assert counts["quota.exceeded"] == 17


def test_unknown_model_is_a_404_and_costs_no_quota(client, settings, clock):
    headers = sign_up(client, "ada@example.com")
    response = client.post("/v1/chat/completions", headers=headers, json=completion_body(model="gpt-none"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    for _ in range(3):
        assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200


def test_bad_completion_input_is_a_422_and_writes_no_event(client, settings):
    headers = sign_up(client, "ada@example.com")
    before = event_counts(settings)
    for body in (
        {"model": "mock-small", "messages": []},
        {"model": "mock-small"},
        {"model": "mock-small", "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": "mock-small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1},
        {"model": "mock-small", "messages": [{"role": "user", "content": "hi"}], "temperature": 9},
    ):
        response = client.post("/v1/chat/completions", headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    assert event_counts(settings) == before


def test_completions_need_a_valid_token(client):
    assert client.post("/v1/chat/completions", json=completion_body()).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.both_databases  # reserve (fast lane on PostgreSQL) then refund
def test_a_bug_in_a_provider_adapter_is_a_500_and_is_not_charged(settings, monkeypatch):
    from fastapi.testclient import TestClient

    from api.main import create_app

    async def broken(self, model, messages, params):
        raise RuntimeError("a bug in a provider adapter")

    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = sign_up(client, "ada@example.com")
        monkeypatch.setattr("api.providers.mock.MockProvider.complete", broken)
        for _ in range(4):  # more than the free plan's 3: each failure gave its unit back
            failed = client.post("/v1/chat/completions", headers=headers, json=completion_body())
            assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal_error"
            assert "adapter" not in failed.text
        monkeypatch.undo()
        for _ in range(3):
            assert (
                client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code
                == 200
            )
    counts = event_counts(settings)
    assert counts["llm.call_failed"] == 4 and counts["llm.call_succeeded"] == 3
