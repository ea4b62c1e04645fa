"""Streamed completions: SSE with the official client, usage, fallback, and clients that hang up."""

from __future__ import annotations

import asyncio
from decimal import ROUND_CEILING, Decimal

import httpx
import openai
import pytest
from sqlalchemy import update

from api.accounts.models import Account
from api.catalogue.models import ModelRoute, Provider
from api.main import create_app
from api.providers.mock import count_tokens
from tests.support.api import (
    LiveServer,
    completion_body,
    db_execute,
    grant_credits,
    http_provider_row,
    sign_up,
    wait_for_events,
)

QUESTION = [{"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]


@pytest.fixture
def faulty_settings(settings):
    return settings.model_copy(update={"mock_faults": True, "catalogue_cache_seconds": 0})


@pytest.fixture
def server(faulty_settings):
    with LiveServer(create_app(faulty_settings)) as live:
        yield live


def _token(server, settings, email="ada@example.com") -> str:
    with httpx.Client(base_url=server.url) as http:
        return sign_up(http, email, settings)["Authorization"].removeprefix("Bearer ")


def test_the_openai_client_streams_the_same_answer_and_gets_the_usage_chunk(server, faulty_settings):
    client = openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=_token(server, faulty_settings), max_retries=0
    )
    whole = client.chat.completions.create(model="mock-small", messages=QUESTION)
    chunks = list(
        client.chat.completions.create(
            model="mock-small", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    streamed = wait_for_events(faulty_settings, "llm.call_succeeded", count=2)[-1]
    assert streamed.properties == {"stream": True} and streamed.status == "ok"
    assert streamed.output_tokens == whole.usage.completion_tokens


def test_the_async_openai_client_streams(server, faulty_settings):
    token = _token(server, faulty_settings)

    async def collect() -> str:
        client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=token, max_retries=0)
        stream = await client.chat.completions.create(model="mock-small", messages=QUESTION, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert "Hamlet" in asyncio.run(collect())


def test_a_provider_that_reports_no_usage_is_counted_here_and_flagged(faulty_settings, upstream):
    db_execute(
        faulty_settings,
        http_provider_row(
            faulty_settings, "quiet", f"{upstream.url}/v1", priority=1, headers={"X-Mock-No-Usage": "1"}
        ),
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="quiet", provider_model="mock-small"
        ),
    )
    with LiveServer(create_app(faulty_settings)) as live:
        client = openai.OpenAI(
            base_url=f"{live.url}/v1", api_key=_token(live, faulty_settings), max_retries=0
        )
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="mock-small", messages=QUESTION, stream=True)
            if c.choices
        )
    (event,) = wait_for_events(faulty_settings, "llm.call_succeeded")
    assert event.provider == "quiet" and event.properties["usage_estimated"] is True
    assert event.output_tokens == count_tokens(text)


def test_a_provider_failing_before_the_first_token_falls_back(faulty_settings, upstream):
    db_execute(
        faulty_settings,
        http_provider_row(
            faulty_settings, "down", f"{upstream.url}/v1", priority=1, headers={"X-Mock-Status": "503"}
        ),
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="down", provider_model="mock-small"
        ),
    )
    with LiveServer(create_app(faulty_settings)) as live:
        client = openai.OpenAI(
            base_url=f"{live.url}/v1", api_key=_token(live, faulty_settings), max_retries=0
        )
        assert list(client.chat.completions.create(model="mock-small", messages=QUESTION, stream=True))
    (event,) = wait_for_events(faulty_settings, "llm.call_succeeded")
    assert event.provider == "mock" and event.properties["attempts"] == [
        {"provider": "down", "error": "provider_503"}
    ]


def _pro_with_credits(settings, email: str, credits: Decimal) -> None:
    db_execute(settings, update(Account).where(Account.email == email).values(plan_code="pro"))
    grant_credits(settings, email, credits)


@pytest.mark.both_databases  # settlement after the stream (fast lane on PostgreSQL)
def test_a_client_that_leaves_mid_stream_pays_only_for_what_it_received(server, faulty_settings):
    token = _token(server, faulty_settings)
    _pro_with_credits(faulty_settings, "ada@example.com", Decimal(10))  # the worst case is 4.1 credits
    body = {"model": "mock-large", "messages": QUESTION, "stream": True, "metadata": {"mock": "slow"}}
    received = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        with http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            for line in r.iter_lines():
                if '"content"' in line:
                    received.append(line.split('"content":"', 1)[1].split('"', 1)[0])
                if len(received) == 3:
                    break  # hang up after three pieces of the answer
    (event,) = wait_for_events(faulty_settings, "llm.call_succeeded")
    assert event.status == "disconnected" and event.error_code == "client_disconnected"
    assert event.output_tokens == count_tokens("".join(received))
    cost = (Decimal(event.input_tokens) * Decimal("2.50") + Decimal(event.output_tokens) * 10) / 1_000_000
    credits = (cost / Decimal("0.01")).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)
    assert event.credits == credits
    with httpx.Client(base_url=server.url) as http:
        balance = http.get("/api/v1/me/balance", headers={"Authorization": f"Bearer {token}"}).json()[
            "balance"
        ]
    assert Decimal(balance) == Decimal(10) - credits


@pytest.mark.both_databases  # refund and quota given back
def test_a_client_that_leaves_before_the_first_token_pays_nothing_and_keeps_its_quota(
    server, faulty_settings, clock
):
    token = _token(server, faulty_settings)
    db_execute(faulty_settings, update(Provider).where(Provider.id == "mock").values(timeout_seconds=20))
    body = {**completion_body(), "stream": True, "metadata": {"mock": "stall"}}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        with http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            assert r.status_code == 200  # headers came; the answer has not started: hang up now
    (failed,) = wait_for_events(faulty_settings, "llm.call_failed")
    assert failed.error_code == "client_disconnected"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(3):  # the whole free quota is still there
            assert http.post("/v1/chat/completions", json=completion_body()).status_code == 200
