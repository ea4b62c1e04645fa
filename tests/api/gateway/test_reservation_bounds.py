"""A call's reservation is an upper bound no input can beat, and it ends once (issue #16, money).

The vendor here is the mock over real HTTP billing as a byte-level tokenizer at its worst
(`X-Mock-Tokenizer: bytes`: one token per UTF-8 byte of the prompt), so a prompt with no spaces, which a
word count takes for one token, is billed thousands.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

import httpx
import pytest
from sqlalchemy import select, update

from api.accounts.models import Account, Plan
from api.billing.models import LedgerEntry, ReservationSettlement
from api.billing.recovery import SETTLEMENT_LOST, refund_lost_reservations
from api.catalogue.models import ModelRoute
from api.core.db import Database, make_sync_engine
from api.core.types import utcnow
from api.main import create_app
from api.quotas.models import QuotaUsage
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

NO_SPACES = "中" * 2000  # 6,000 UTF-8 bytes; one "word"
SHORTER = "中" * 1000  # 3,000 bytes: the most it can cost (with 20 tokens of answer) is 0.78 credits


def _bytes_vendor(settings, upstream) -> None:
    """Both mock models served first by the HTTP mock billing per byte."""
    db_execute(
        settings,
        http_provider_row(
            settings, "bytes", f"{upstream.url}/v1", priority=1, headers={"X-Mock-Tokenizer": "bytes"}
        ),
        ModelRoute.__table__.insert().values(model_id="mock-small", provider_id="bytes", provider_model="m"),
        ModelRoute.__table__.insert().values(model_id="mock-large", provider_id="bytes", provider_model="m"),
    )


def _credits(input_tokens: int, output_tokens: int) -> Decimal:
    cost = (Decimal(input_tokens) * Decimal("2.50") + Decimal(output_tokens) * 10) / 1_000_000
    return (cost / Decimal("0.01")).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)


def _burst(url: str, headers: dict, body: dict, n: int) -> list[httpx.Response]:
    async def run():
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            return await asyncio.gather(*(http.post("/v1/chat/completions", json=body) for _ in range(n)))

    return asyncio.run(run())


@pytest.fixture
def app_settings(settings):
    return settings.model_copy(update={"catalogue_cache_seconds": 0, "mock_faults": True})


@pytest.mark.both_databases  # the reservation and the settlement: the fast lane on PostgreSQL
def test_prompts_without_spaces_cannot_cost_more_than_the_balance_reserved(app_settings, upstream):
    """8 concurrent calls of a 3,000-byte prompt with no spaces on a balance of 1 credit: each call that
    runs was charged in full what the vendor billed (none written off), and the balance never went below
    zero. (The word count reserved for one prompt token: every call ran, and most of it was written off.)"""
    _bytes_vendor(app_settings, upstream)
    with LiveServer(create_app(app_settings)) as live:
        with httpx.Client(base_url=live.url) as http:
            headers = sign_up(http, "ada@example.com", app_settings)
        db_execute(app_settings, update(Account).values(plan_code="pro"))
        grant_credits(app_settings, "ada@example.com", Decimal(1))
        body = {**completion_body("mock-large", SHORTER), "max_tokens": 20}
        statuses = sorted(r.status_code for r in _burst(live.url, headers, body, 8))
    succeeded = events_of(app_settings, "llm.call_succeeded")
    assert statuses.count(200) == len(succeeded) >= 1 and set(statuses) <= {200, 402}, statuses
    for event in succeeded:
        assert event.input_tokens == len(SHORTER.encode()) + 3  # what the vendor billed
        assert event.credits == _credits(event.input_tokens, event.output_tokens)  # all of it charged
    engine = make_sync_engine(app_settings)
    with engine.connect() as conn:
        balance = conn.scalar(select(Account.balance).where(Account.email == "ada@example.com"))
        moves = conn.scalars(select(LedgerEntry.amount)).all()
    engine.dispose()
    assert balance == Decimal(1) - sum(e.credits for e in succeeded) >= 0
    assert sum(moves) == balance


@pytest.mark.both_databases  # the tokens reserved atomically in the quota counter
def test_a_free_day_of_tokens_cannot_be_overrun_by_a_burst_of_long_prompts(app_settings, upstream):
    """The free plan's 20,000 tokens a day: each call reserves the most it can use before it runs, so a
    burst of 8 prompts billed 6,003 tokens each stays within the day (counting after the call let 4 run)."""
    _bytes_vendor(app_settings, upstream)
    with LiveServer(create_app(app_settings)) as live:
        with httpx.Client(base_url=live.url) as http:
            headers = sign_up(http, "ada@example.com", app_settings)
        db_execute(app_settings, update(Plan).where(Plan.code == "free").values(daily_requests=100))
        responses = _burst(live.url, headers, completion_body("mock-small", NO_SPACES), 8)
    refused = [r.json()["error"] for r in responses if r.status_code == 429]
    assert sorted({r.status_code for r in responses}) == [200, 429]
    assert {(e["code"], e["metric"]) for e in refused} == {("quota_exceeded", "tokens_per_day")}
    engine = make_sync_engine(app_settings)
    with engine.connect() as conn:
        used = conn.scalar(select(QuotaUsage.used).where(QuotaUsage.metric == "tokens_per_day"))
    engine.dispose()
    billed = sum(e.input_tokens + e.output_tokens for e in events_of(app_settings, "llm.call_succeeded"))
    assert used == billed <= 20_000
    assert upstream.app.state.calls == len(responses) - len(refused)  # the refused never reached it


def test_a_prompt_longer_than_the_context_is_refused_before_the_call(app_settings, upstream):
    _bytes_vendor(app_settings, upstream)
    with LiveServer(create_app(app_settings)) as live, httpx.Client(base_url=live.url) as http:
        headers = sign_up(http, "ada@example.com", app_settings)
        long = http.post(
            "/v1/chat/completions", headers=headers, json=completion_body(content="word " * 8193)
        )
        asked = http.post(
            "/v1/chat/completions",
            headers=headers,
            json={**completion_body(content="word " * 8000), "max_tokens": 1000},
        )
        usage = http.get("/api/v1/me/usage", headers=headers).json()
    for response in (long, asked):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "8192" in long.json()["error"]["message"]
    assert upstream.app.state.calls == 0 and usage["requests_today"]["used"] == 0


def test_the_answer_limit_the_reservation_holds_is_always_sent_to_the_provider(app_settings, upstream):
    """Without `max_tokens` the provider could write past the model's limit the reservation counted on."""
    _bytes_vendor(app_settings, upstream)
    with LiveServer(create_app(app_settings)) as live, httpx.Client(base_url=live.url) as http:
        headers = sign_up(http, "ada@example.com", app_settings)
        assert http.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
    assert upstream.app.state.last_body["max_tokens"] == 1024  # mock-small's max_output_tokens


@pytest.mark.both_databases  # the claim: in gateway_settle on PostgreSQL, through the ORM on SQLite
def test_a_stream_settled_after_the_recovery_refunded_it_changes_nothing(app_settings, clock):
    """A stream still running when the recovery job refunds its reservation (a grace period set too short,
    a clock jump): the settlement finds the reservation ended and changes nothing. Before, it refunded the
    unused part a second time: the user ended up with more than before the call."""
    with LiveServer(create_app(app_settings)) as live:
        with httpx.Client(base_url=live.url) as http:
            headers = sign_up(http, "ada@example.com", app_settings)
        db_execute(app_settings, update(Account).values(plan_code="pro"))
        grant_credits(app_settings, "ada@example.com", Decimal(10))
        body = {**completion_body("mock-large"), "stream": True, "metadata": {"mock": "slow"}}
        with httpx.Client(base_url=live.url, headers=headers, timeout=30) as http:
            with http.stream("POST", "/v1/chat/completions", json=body) as stream:
                lines = stream.iter_lines()
                next(line for line in lines if '"content"' in line)  # the answer has started
                assert _sweep(app_settings, utcnow() + timedelta(minutes=30, seconds=1)) == 1
                rest = list(lines)
            assert [line for line in rest if line][-1] == "data: [DONE]"
            balance = Decimal(http.get("/api/v1/me/balance").json()["balance"])
        (lost,) = wait_for_events(app_settings, "llm.call_failed")
        assert lost.error_code == SETTLEMENT_LOST
    assert balance == Decimal(10)  # reserved, refunded once, nothing more
    assert events_of(app_settings, "llm.call_succeeded") == []
    engine = make_sync_engine(app_settings)
    with engine.connect() as conn:
        outcomes = conn.scalars(select(ReservationSettlement.outcome)).all()
        kinds = conn.execute(select(LedgerEntry.kind, LedgerEntry.amount).order_by(LedgerEntry.id)).all()
    engine.dispose()
    assert outcomes == ["lost"]
    assert [kind for kind, _ in kinds] == ["adjustment", "charge", "refund"], kinds


def _sweep(settings, at) -> int:
    async def run() -> int:
        db = Database(settings)
        try:
            return await refund_lost_reservations(db.sessionmaker, settings, at)
        finally:
            await db.dispose()

    return asyncio.run(run())
