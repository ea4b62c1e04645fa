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
from api.gateway.bounds import prompt_ceiling, text_ceiling
from api.main import create_app
from api.providers.base import ChatMessage
from api.providers.mock import answer, count_tokens
from tests.support.api import (
    LiveServer,
    completion_body,
    db_execute,
    events_of,
    grant_credits,
    http_provider_row,
    sign_up,
    wait_for_events,
)

QUESTION = [{"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]


def _whole_answer(messages: list[dict]):
    """The mock's whole answer to `messages` on mock-large, with the usage it reports."""
    return answer("mock-large", [ChatMessage(m["role"], m["content"]) for m in messages], 4096)


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


def test_a_provider_that_reports_no_usage_is_charged_the_bound_and_flagged(faulty_settings, upstream):
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
    assert event.properties["usage_source"] == "bound"  # the most the provider can have billed
    prompt = [ChatMessage(m["role"], m["content"]) for m in QUESTION]
    assert event.input_tokens == prompt_ceiling(prompt) and event.output_tokens == text_ceiling(text)


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


def _hang_up_after(server, token: str, body: dict, pieces: int) -> list[str]:
    """Stream `body`, hang up after `pieces` pieces of the answer (0: as soon as the headers came); the
    pieces received."""
    received: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as http:
        with http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            assert r.status_code == 200
            if pieces:
                for line in r.iter_lines():
                    if '"content"' in line:
                        received.append(line.split('"content":"', 1)[1].split('"', 1)[0])
                    if len(received) == pieces:
                        break
    return received


def _credits(input_tokens: int, output_tokens: int) -> Decimal:
    """mock-large's price of these tokens, in credits (1 credit = $0.01, rounded up as billing does)."""
    cost = (Decimal(input_tokens) * Decimal("2.50") + Decimal(output_tokens) * 10) / 1_000_000
    return (cost / Decimal("0.01")).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)


def _balance(server, token: str) -> Decimal:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
        return Decimal(http.get("/api/v1/me/balance").json()["balance"])


SLOW_PAID = {"model": "mock-large", "messages": QUESTION, "stream": True, "metadata": {"mock": "slow"}}


@pytest.mark.both_databases  # settlement after the stream (fast lane on PostgreSQL)
def test_a_client_that_leaves_mid_stream_pays_what_the_provider_billed(server, faulty_settings):
    """The provider goes on writing after the hang-up: the settlement reads its stream to the usage report
    and charges that (the local count of what was received charged a fraction of it)."""
    token = _token(server, faulty_settings)
    _pro_with_credits(faulty_settings, "ada@example.com", Decimal(10))
    received = _hang_up_after(server, token, SLOW_PAID, pieces=3)
    (event,) = wait_for_events(faulty_settings, "llm.call_succeeded")
    whole = _whole_answer(QUESTION)
    assert event.status == "disconnected" and event.error_code == "client_disconnected"
    assert event.properties["usage_source"] == "provider_after_disconnect"
    assert (event.input_tokens, event.output_tokens) == (whole.input_tokens, whole.output_tokens)
    assert event.output_tokens > count_tokens("".join(received))
    assert event.credits == _credits(whole.input_tokens, whole.output_tokens)
    assert _balance(server, token) == Decimal(10) - event.credits


@pytest.mark.both_databases
def test_a_client_that_leaves_mid_stream_is_charged_the_bound_when_the_usage_does_not_come(faulty_settings):
    """No time to read on (drain_seconds 0): the stream is cancelled and the call charged the most the
    provider can have billed: the prompt's bound and the bytes of what it wrote."""
    settings = faulty_settings.model_copy(update={"drain_seconds": 0})
    with LiveServer(create_app(settings)) as live:
        token = _token(live, settings)
        _pro_with_credits(settings, "ada@example.com", Decimal(10))
        received = "".join(_hang_up_after(live, token, SLOW_PAID, pieces=3))
        (event,) = wait_for_events(settings, "llm.call_succeeded")
        balance = _balance(live, token)
    prompt = [ChatMessage(m["role"], m["content"]) for m in QUESTION]
    assert event.status == "disconnected" and event.properties["usage_source"] == "bound"
    assert event.properties["usage_estimated"] is True
    assert event.input_tokens == prompt_ceiling(prompt) > _whole_answer(QUESTION).input_tokens
    assert text_ceiling(received) <= event.output_tokens <= text_ceiling(_whole_answer(QUESTION).content)
    assert event.credits == _credits(event.input_tokens, event.output_tokens)
    assert balance == Decimal(10) - event.credits


@pytest.mark.both_databases  # the quota and the charge after a hang-up before the first token
def test_a_client_that_leaves_before_the_first_token_pays_for_the_prompt_and_uses_its_quota(faulty_settings):
    """The provider had the prompt: leaving before the first token costs the prompt (its bound, as the
    provider never reported) and the day's request."""
    settings = faulty_settings.model_copy(update={"drain_seconds": 0.5})
    db_execute(settings, update(Provider).where(Provider.id == "mock").values(timeout_seconds=20))
    with LiveServer(create_app(settings)) as live:
        token = _token(live, settings)
        free = {**completion_body(), "stream": True, "metadata": {"mock": "stall"}}
        assert _hang_up_after(live, token, free, pieces=0) == []
        (left,) = wait_for_events(settings, "llm.call_succeeded")
        assert left.status == "disconnected" and left.output_tokens == 0
        assert left.properties["usage_source"] == "bound" and left.input_tokens > 0
        assert not events_of(settings, "llm.call_failed")
        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}) as http:
            statuses = [
                http.post("/v1/chat/completions", json=completion_body()).status_code for _ in range(3)
            ]
        assert statuses == [200, 200, 429]  # the free plan's 3 a day: the one left was taken

        _pro_with_credits(settings, "ada@example.com", Decimal(10))
        paid = {**free, "model": "mock-large"}
        assert _hang_up_after(live, token, paid, pieces=0) == []
        charged = wait_for_events(settings, "llm.call_succeeded", count=4)[-1]
        prompt = [ChatMessage(m["role"], m["content"]) for m in paid["messages"]]
        assert charged.input_tokens == prompt_ceiling(prompt) and charged.output_tokens == 0
        assert charged.credits == _credits(charged.input_tokens, 0) > 0
        assert _balance(live, token) == Decimal(10) - charged.credits


@pytest.mark.both_databases
def test_a_stream_is_cut_at_the_call_time_limit_and_charged_as_far_as_it_went(faulty_settings):
    settings = faulty_settings.model_copy(update={"call_max_seconds": 1.0})
    with LiveServer(create_app(settings)) as live:
        token = _token(live, settings)
        _pro_with_credits(settings, "ada@example.com", Decimal(10))
        with httpx.Client(base_url=live.url, timeout=30) as http:
            response = http.post(
                "/v1/chat/completions", json=SLOW_PAID, headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 200 and '"code":"call_time_limit"' in response.text
        assert "[DONE]" not in response.text
        (event,) = wait_for_events(settings, "llm.call_succeeded")
        balance = _balance(live, token)
    assert event.status == "ok" and event.error_code == "call_time_limit"
    assert event.properties["usage_source"] == "bound"
    assert event.credits == _credits(event.input_tokens, event.output_tokens)
    assert balance == Decimal(10) - event.credits


def test_the_call_time_limit_and_the_drain_must_end_before_the_reservation_grace(settings):
    with pytest.raises(ValueError, match="AIADMIN_CALL_MAX_SECONDS"):
        settings.model_validate({**settings.model_dump(), "call_max_seconds": 1800, "drain_seconds": 0})
