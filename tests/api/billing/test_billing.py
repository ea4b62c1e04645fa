"""Credits: top-ups at the rate, reserve then settle or refund, never below zero, idempotent retries."""

from __future__ import annotations

import asyncio
from decimal import ROUND_CEILING, Decimal

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.accounts.models import Account
from api.billing.models import LedgerEntry
from api.core.db import make_sync_engine
from api.main import create_app
from tests.support.api import completion_body, db_execute, event_counts, events_of, grant_credits, sign_up

# Both databases: balances, reservations and the ledger are numeric and atomic on each, and on PostgreSQL
# the fast lane reserves and settles.
pytestmark = pytest.mark.both_databases

PAID = "mock-large"  # $2.50 / $10.00 per 1M tokens; 1 credit = $0.01 by default


def _balance(client, headers) -> Decimal:
    return Decimal(client.get("/api/v1/me/balance", headers=headers).json()["balance"])


def _ledger_sum_equals_balances(settings) -> bool:
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        sums = dict(
            conn.execute(
                select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.account_id)
            ).all()
        )
        balances = dict(conn.execute(select(Account.id, Account.balance)).all())
    engine.dispose()
    return all(Decimal(sums.get(account, 0)) == balance for account, balance in balances.items())


def _pro(settings, email: str) -> None:
    db_execute(settings, update(Account).where(Account.email == email).values(plan_code="pro"))


def _top_up(client, headers, amount: str, key: str | None = None, currency: str = "USD"):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/api/v1/me/balance/top-up",
        headers={**headers, **extra},
        json={"amount": amount, "currency": currency},
    )


def test_a_top_up_turns_money_into_credits_at_the_rate_and_a_retried_key_counts_once(client, settings):
    headers = sign_up(client, "ada@example.com")
    first = _top_up(client, headers, "12.50", key="order-1")
    retry = _top_up(client, headers, "12.50", key="order-1")
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json() == {"credits": "1250.000000", "balance": "1250.000000"}
    assert _balance(client, headers) == Decimal(1250)
    reused = _top_up(client, headers, "99.00", key="order-1")
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    wrong = _top_up(client, headers, "5", currency="EUR")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "currency_mismatch"
    assert event_counts(settings)["balance.topped_up"] == 1
    assert _ledger_sum_equals_balances(settings)


def test_top_ups_refuse_bad_amounts_and_are_off_in_production(client, settings):
    headers = sign_up(client, "ada@example.com")
    for amount in ("0", "-5", "1000001", "1.234", "abc"):
        assert _top_up(client, headers, amount).status_code == 422, amount
    production = settings.model_copy(update={"test_top_ups": False})
    with TestClient(create_app(production)) as prod:
        refused = _top_up(prod, headers, "10")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "top_ups_disabled"


def test_a_paid_call_reserves_the_worst_case_then_pays_exactly_its_cost(client, settings):
    headers = sign_up(client, "ada@example.com")
    _pro(settings, "ada@example.com")
    _top_up(client, headers, "10")
    before = _balance(client, headers)
    usage = client.post("/v1/chat/completions", headers=headers, json=completion_body(PAID)).json()["usage"]
    cost = (
        Decimal(usage["prompt_tokens"]) * Decimal("2.50") + Decimal(usage["completion_tokens"]) * 10
    ) / 1_000_000
    credits = (cost / Decimal("0.01")).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)
    assert _balance(client, headers) == before - credits
    entries = client.get("/api/v1/me/balance", headers=headers).json()["entries"]
    assert [(e["kind"], e["model"], e["description"]) for e in entries[:2]] == [
        ("refund", None, "Refund of what a call did not use"),  # reserved, then the unused part given back
        ("charge", PAID, f"Charge for a call to {PAID}"),
    ]
    (call,) = events_of(settings, "llm.call_succeeded")
    assert call.credits == credits
    assert _ledger_sum_equals_balances(settings)


def test_free_tier_calls_cost_no_credits(client, settings):
    headers = sign_up(client, "ada@example.com")
    assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
    assert _balance(client, headers) == 0
    (call,) = events_of(settings, "llm.call_succeeded")
    assert call.credits is None and call.cost_usd > 0  # the provider still cost us money


def test_without_enough_credits_the_call_is_a_402_and_takes_nothing(client, settings):
    headers = sign_up(client, "ada@example.com")
    _pro(settings, "ada@example.com")
    refused = client.post("/v1/chat/completions", headers=headers, json=completion_body(PAID))
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "insufficient_balance"
    assert _balance(client, headers) == 0
    counts = event_counts(settings)
    assert counts["balance.insufficient"] == 1 and counts["llm.call_succeeded"] == 0


def test_a_failed_paid_call_is_refunded_in_full(settings):
    faulty = settings.model_copy(update={"mock_faults": True})
    with TestClient(create_app(faulty)) as client:
        headers = sign_up(client, "ada@example.com")
        _pro(faulty, "ada@example.com")
        _top_up(client, headers, "1")
        body = {**completion_body(PAID), "metadata": {"mock": "fail"}}
        assert client.post("/v1/chat/completions", headers=headers, json=body).status_code == 502
        assert _balance(client, headers) == Decimal(100)
    counts = event_counts(faulty)
    assert counts["balance.refunded"] == 1 and counts["llm.call_failed"] == 1
    assert _ledger_sum_equals_balances(faulty)


def test_a_completion_retried_with_its_idempotency_key_is_answered_and_charged_once(client, settings):
    headers = sign_up(client, "ada@example.com")
    _pro(settings, "ada@example.com")
    _top_up(client, headers, "1")
    keyed = {**headers, "Idempotency-Key": "chat-42"}
    first = client.post("/v1/chat/completions", headers=keyed, json=completion_body(PAID))
    retry = client.post("/v1/chat/completions", headers=keyed, json=completion_body(PAID))
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    assert event_counts(settings)["llm.call_succeeded"] == 1
    assert event_counts(settings)["balance.charged"] == 1


def _burst(url: str, headers: dict, body: dict, n: int = 50) -> list[int]:
    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            answers = await asyncio.gather(*(http.post("/v1/chat/completions", json=body) for _ in range(n)))
        return [a.status_code for a in answers]

    return asyncio.run(run())


def test_fifty_concurrent_calls_against_a_quota_of_three_let_exactly_three_through(
    live_server, settings, clock
):
    with httpx.Client(base_url=live_server.url) as http:
        headers = sign_up(http, "ada@example.com", settings)
    statuses = _burst(live_server.url, headers, completion_body())
    assert statuses.count(200) == 3 and statuses.count(429) == 47


def test_fifty_concurrent_calls_against_a_balance_worth_five_let_exactly_five_through(live_server, settings):
    from api.gateway.bounds import prompt_ceiling
    from api.providers.base import ChatMessage
    from api.providers.mock import count_prompt_tokens

    # A call reserves the most it can cost (its prompt's bound, and max_tokens: below the mock's answer
    # length, so every call writes exactly that many), and is charged what the provider billed.
    body = {**completion_body(PAID), "max_tokens": 4}
    prompt = [ChatMessage("user", body["messages"][0]["content"])]

    def credits(prompt_tokens: int) -> Decimal:
        cost_usd = (Decimal(prompt_tokens) * Decimal("2.50") + 4 * Decimal("10.00")) / 1_000_000
        return (cost_usd / Decimal("0.01")).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)

    reserved, one_call = credits(prompt_ceiling(prompt)), credits(count_prompt_tokens(prompt))
    with httpx.Client(base_url=live_server.url) as http:
        headers = sign_up(http, "ada@example.com", settings)
    _pro(settings, "ada@example.com")
    grant_credits(settings, "ada@example.com", 5 * reserved)

    statuses = _burst(live_server.url, headers, body)
    passed = statuses.count(200)
    assert passed + statuses.count(402) == 50
    # Five reservations fit at once; what a settled call gives back may let a few more through, each only
    # with its whole reservation in the balance: n calls need (n - 1) * one_call + reserved <= 5 * reserved.
    assert 5 <= passed <= 1 + int(4 * reserved / one_call), statuses
    with httpx.Client(base_url=live_server.url) as http:
        balance = Decimal(http.get("/api/v1/me/balance", headers=headers).json()["balance"])
    assert balance == 5 * reserved - passed * one_call >= 0
    assert {e.credits for e in events_of(settings, "llm.call_succeeded")} == {one_call}
    assert _ledger_sum_equals_balances(settings)
