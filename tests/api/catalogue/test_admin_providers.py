"""`/api/v1/admin/providers`: keys are write-only (masked everywhere), rotation takes effect on the next
call, a provider can be tested and disabled; every change is audited."""

from __future__ import annotations

from api.catalogue.models import ModelRoute
from tests.support.api import completion_body, db_execute, sign_up, staff_headers

PROVIDERS = "/api/v1/admin/providers"
KEY_1 = "sk-first-key-000000000001"
KEY_2 = "sk-second-key-00000000002"


def test_add_rotate_test_and_disable_a_provider_with_its_key_never_shown(client, settings, upstream):
    admin = staff_headers(client, settings, "admin")
    moderator = staff_headers(client, settings, "moderator")
    assert client.get(PROVIDERS, headers=moderator).status_code == 403

    body = {
        "id": "relay",
        "display_name": "Relay",
        "base_url": f"{upstream.url}/v1",
        "api_key": KEY_1,
        "priority": 1,
        "timeout_seconds": 5,
        "max_retries": 0,
        "extra_headers": {"X-Tenant": "secret-tenant-header"},
    }
    added = client.post(PROVIDERS, json=body, headers=admin)
    assert added.status_code == 201
    assert added.json()["api_key"] == "sk-…0001" and added.json()["extra_headers"] == {"X-Tenant": "sec…ader"}
    assert client.post(PROVIDERS, json=body, headers=admin).json()["error"]["code"] == "provider_exists"
    db_execute(
        settings,
        ModelRoute.__table__.insert().values(
            model_id="mock-small", provider_id="relay", provider_model="mock-small"
        ),
    )

    ada = sign_up(client, "ada@example.com")
    assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    assert upstream.app.state.last_authorization == f"Bearer {KEY_1}"

    rotated = client.post(f"{PROVIDERS}/relay/rotate-key", json={"api_key": KEY_2}, headers=admin)
    assert rotated.json()["api_key"] == "sk-…0002"
    assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    assert upstream.app.state.last_authorization == f"Bearer {KEY_2}"  # the next call uses the new key

    tested = client.post(f"{PROVIDERS}/relay/test", headers=admin).json()
    assert tested["ok"] is True and tested["latency_ms"] >= 0 and tested["model"] == "mock-small"

    calls = upstream.app.state.calls
    fields = {k: v for k, v in body.items() if k not in ("id", "api_key")}
    disabled = client.put(f"{PROVIDERS}/relay", json={**fields, "enabled": False}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    assert upstream.app.state.calls == calls  # served by the built-in mock, the next provider

    everything = (
        client.get(PROVIDERS, headers=admin).text
        + client.get("/api/v1/admin/audit", params={"target_type": "provider"}, headers=admin).text
    )
    for secret in (KEY_1, KEY_2, "secret-tenant-header"):
        assert secret not in everything
    actions = [
        e["action"]
        for e in client.get("/api/v1/admin/audit", params={"target_id": "relay"}, headers=admin).json()
    ]
    assert actions == ["provider.edit", "provider.test", "provider.rotate_key", "provider.add"]


def test_a_provider_that_does_not_answer_tests_unhealthy(client, settings):
    admin = staff_headers(client, settings, "admin")
    body = {
        "id": "nowhere",
        "display_name": "Nowhere",
        "base_url": "http://127.0.0.1:9/v1",
        "timeout_seconds": 2,
    }
    assert client.post(PROVIDERS, json=body, headers=admin).status_code == 201
    tested = client.post(f"{PROVIDERS}/nowhere/test", params={"model": "x"}, headers=admin).json()
    assert tested == {**tested, "ok": False, "error": "provider_unreachable", "model": "x"}
    assert client.post(PROVIDERS, json={**body, "id": "Bad Id"}, headers=admin).status_code == 422
    assert client.post(f"{PROVIDERS}/ghost/test", headers=admin).status_code == 404
