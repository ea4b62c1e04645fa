"""The model catalogue: plan tiers, price history, provider routing with retries, timeouts and fallback."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.accounts.models import Account
from api.catalogue.models import ModelPrice, ModelRoute, Provider
from api.core.crypto import Encryptor
from api.core.db import make_sync_engine
from api.core.types import utcnow
from api.main import create_app
from tests.support.api import completion_body, db_execute, event_counts, events_of, http_provider_row, sign_up


@pytest.fixture
def gateway_settings(settings):
    return settings.model_copy(update={"mock_faults": True, "catalogue_cache_seconds": 0})


def test_a_paid_model_is_refused_to_the_free_plan_and_served_to_pro(gateway_settings):
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        refused = client.post("/v1/chat/completions", headers=headers, json=completion_body("mock-large"))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_in_plan"
        db_execute(gateway_settings, update(Account).values(plan_code="pro"))
        client.post("/api/v1/me/balance/top-up", headers=headers, json={"amount": "1", "currency": "USD"})
        assert {m["id"] for m in client.get("/v1/models", headers=headers).json()["data"]} == {
            "mock-small",
            "mock-large",
        }
        assert (
            client.post(
                "/v1/chat/completions", headers=headers, json=completion_body("mock-large")
            ).status_code
            == 200
        )
    assert event_counts(gateway_settings)["llm.call_succeeded"] == 1  # the refusal cost nothing


def test_hidden_models_are_callable_but_not_listed_and_disabled_ones_are_gone(gateway_settings):
    from api.catalogue.models import LlmModel

    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        db_execute(
            gateway_settings, update(LlmModel).where(LlmModel.id == "mock-small").values(visible=False)
        )
        assert client.get("/v1/models", headers=headers).json()["data"] == []
        assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
        db_execute(
            gateway_settings, update(LlmModel).where(LlmModel.id == "mock-small").values(enabled=False)
        )
        gone = client.post("/v1/chat/completions", headers=headers, json=completion_body())
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"


@pytest.mark.both_databases  # the price in force: timestamps compared in SQL
def test_cost_is_computed_from_the_price_in_force_at_call_time(gateway_settings):
    now = utcnow()
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        usage_before = client.post("/v1/chat/completions", headers=headers, json=completion_body()).json()[
            "usage"
        ]
        db_execute(
            gateway_settings,
            ModelPrice.__table__.insert().values(
                model_id="mock-small", input_per_million=100, output_per_million=200, effective_from=now
            ),
            ModelPrice.__table__.insert().values(
                model_id="mock-small",
                input_per_million=999,
                output_per_million=999,
                effective_from=now + timedelta(days=30),  # announced, not yet in force
            ),
        )
        usage_after = client.post("/v1/chat/completions", headers=headers, json=completion_body()).json()[
            "usage"
        ]
    before, after = events_of(gateway_settings, "llm.call_succeeded")
    expected_before = (
        Decimal(usage_before["prompt_tokens"]) * Decimal("0.15")
        + Decimal(usage_before["completion_tokens"]) * Decimal("0.60")
    ) / 1_000_000
    expected_after = (
        Decimal(usage_after["prompt_tokens"]) * 100 + Decimal(usage_after["completion_tokens"]) * 200
    ) / 1_000_000
    assert before.cost_usd == expected_before.quantize(Decimal("1e-8"))
    assert after.cost_usd == expected_after.quantize(Decimal("1e-8"))


def test_a_failing_provider_falls_back_to_the_next_by_priority_after_its_retries(gateway_settings, upstream):
    db_execute(
        gateway_settings,
        http_provider_row(
            gateway_settings,
            "flaky",
            f"{upstream.url}/v1",
            priority=1,
            retries=1,
            headers={"X-Mock-Status": "503"},
        ),
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="flaky", provider_model="mock-small"
        ),
    )
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        response = client.post("/v1/chat/completions", headers=headers, json=completion_body())
    assert response.status_code == 200
    assert upstream.app.state.calls == 2  # the first try and one retry
    (event,) = events_of(gateway_settings, "llm.call_succeeded")
    assert event.provider == "mock"
    assert event.properties["attempts"] == [{"provider": "flaky", "error": "provider_503"}] * 2


def test_an_http_provider_gets_its_key_decrypted_and_the_key_is_encrypted_at_rest(gateway_settings, upstream):
    secret = "sk-test-0123456789abcdef"
    db_execute(
        gateway_settings,
        http_provider_row(gateway_settings, "remote", f"{upstream.url}/v1", priority=1, key=secret),
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="remote", provider_model="mock-small"
        ),
    )
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        response = client.post("/v1/chat/completions", headers=headers, json=completion_body())
    assert response.status_code == 200 and response.json()["usage"]["total_tokens"] > 0
    assert upstream.app.state.last_authorization == f"Bearer {secret}"
    engine = make_sync_engine(gateway_settings)
    with engine.connect() as conn:
        stored = conn.scalar(select(Provider.api_key_encrypted).where(Provider.id == "remote"))
        remote = conn.execute(select(Provider).where(Provider.id == "remote")).one()
    engine.dispose()
    assert secret not in stored and Encryptor(gateway_settings).decrypt(stored) == secret
    assert secret not in repr(Provider(**remote._mapping))
    (event,) = events_of(gateway_settings, "llm.call_succeeded")
    assert event.provider == "remote"


def test_a_request_the_provider_refuses_does_not_fall_back(gateway_settings, upstream):
    db_execute(
        gateway_settings,
        http_provider_row(
            gateway_settings, "strict", f"{upstream.url}/v1", priority=1, headers={"X-Mock-Status": "400"}
        ),
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="strict", provider_model="mock-small"
        ),
    )
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        response = client.post("/v1/chat/completions", headers=headers, json=completion_body())
    assert response.status_code == 502
    (failed,) = events_of(gateway_settings, "llm.call_failed")
    assert failed.error_code == "provider_rejected_request"
    assert event_counts(gateway_settings)["llm.call_succeeded"] == 0


@pytest.mark.parametrize(("fault", "error"), [("fail", "mock_failure"), ("stall", "provider_timeout")])
@pytest.mark.both_databases  # reserve (fast lane on PostgreSQL) then refund
def test_when_every_provider_fails_the_call_is_a_502_and_is_not_charged(gateway_settings, fault, error):
    db_execute(gateway_settings, update(Provider).where(Provider.id == "mock").values(timeout_seconds=0.3))
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        body = {**completion_body(), "metadata": {"mock": fault}}
        for _ in range(4):  # more than the free plan's 3: nothing was taken
            response = client.post("/v1/chat/completions", headers=headers, json=body)
            assert response.status_code == 502 and response.json()["error"]["code"] == "provider_error"
        assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
    failed = events_of(gateway_settings, "llm.call_failed")
    assert len(failed) == 4
    assert failed[0].error_code == "all_providers_failed"
    assert failed[0].properties["attempts"] == [{"provider": "mock", "error": error}]


def test_fault_metadata_is_ignored_outside_test_mode(settings):
    with TestClient(create_app(settings)) as client:  # mock_faults is off by default
        headers = sign_up(client, "ada@example.com")
        body = {**completion_body(), "metadata": {"mock": "fail"}}
        assert client.post("/v1/chat/completions", headers=headers, json=body).status_code == 200


def test_max_tokens_above_the_models_limit_is_a_400(gateway_settings):
    with TestClient(create_app(gateway_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        response = client.post(
            "/v1/chat/completions", headers=headers, json={**completion_body(), "max_tokens": 5000}
        )
    assert response.status_code == 400 and response.json()["error"]["code"] == "max_tokens_too_large"
    assert event_counts(gateway_settings)["llm.call_failed"] == 0


def test_the_mock_can_be_made_to_fail_by_settings_and_the_call_falls_back(settings, upstream):
    failing = settings.model_copy(update={"mock_fault": "fail", "catalogue_cache_seconds": 0})
    with TestClient(create_app(failing)) as client:
        headers = sign_up(client, "ada@example.com")
        refused = client.post("/v1/chat/completions", headers=headers, json=completion_body())
        assert (
            refused.status_code == 502
        )  # the mock is the only provider of mock-small: nothing to fall back to
        db_execute(
            failing,
            http_provider_row(failing, "backup", f"{upstream.url}/v1", priority=200),
            ModelRoute.__table__.insert().values(
                model_id="mock-small", provider_id="backup", provider_model="mock-small"
            ),
        )
        assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
    (event,) = events_of(failing, "llm.call_succeeded")
    assert event.provider == "backup" and event.properties["attempts"] == [
        {"provider": "mock", "error": "mock_failure"}
    ]
