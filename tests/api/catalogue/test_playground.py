"""The staff playground (docs/decisions/0058): an unsaved prompt or a role's earlier version reaches the HTTP
mock provider as the system prompt; the answer comes with tokens, cost and latency; any enabled model is
callable whatever the plans; the call is an `llm.call_succeeded` marked `staff_test`, audited, and takes
no quota or credits; catalogue:write only; hostile input is a 422."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from api.accounts.models import Plan
from api.audit.models import AuditEntry
from api.billing.models import LedgerEntry
from api.catalogue.models import ModelRoute
from api.main import create_app
from api.quotas.models import QuotaUsage
from tests.support.api import db_execute, db_rows, events_of, http_provider_row, staff_headers

PLAYGROUND = "/api/v1/admin/playground"
ROLES = "/api/v1/admin/roles"
HELLO = [{"role": "user", "content": "Say hello to the new colleague."}]


@pytest.fixture
def client(settings, upstream):
    """The API whose mock-small is served first by the mock provider over real HTTP (it records each body)."""
    db_execute(
        settings,
        http_provider_row(settings, "relay", f"{upstream.url}/v1", priority=1),
        insert(ModelRoute).values(model_id="mock-small", provider_id="relay", provider_model="mock-small"),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def admin(client, settings) -> dict[str, str]:
    return staff_headers(client, settings, "admin")


def _role(client, admin, prompt: str) -> dict:
    """A role `greeter` with `prompt` as its first version, then a second (all of it: a PUT replaces all)."""
    body = {"name": "Greeter", "system_prompt": prompt, "default_model": "mock-small", "tool": "prompts"}
    assert client.post(ROLES, headers=admin, json={"id": "greeter", **body}).status_code == 201
    edited = client.put(f"{ROLES}/greeter", headers=admin, json={**body, "system_prompt": "Be terse."})
    assert edited.status_code == 200 and edited.json()["version"] == 2
    return edited.json()


@pytest.mark.both_databases
def test_an_unsaved_prompt_reaches_the_provider_and_the_answer_has_tokens_cost_and_latency(
    client, settings, upstream, admin
):
    prompt = "You are a pirate. Answer in pirate speak."
    response = client.post(
        PLAYGROUND, headers=admin, json={"model": "mock-small", "system_prompt": prompt, "messages": HELLO}
    )
    assert response.status_code == 200, response.text
    sent = upstream.app.state.last_body["messages"]
    assert sent == [{"role": "system", "content": prompt}, HELLO[0]]
    out = response.json()
    assert out["answer"] and out["provider"] == "relay" and out["attempts"] == []
    assert out["input_tokens"] > 0 and out["output_tokens"] > 0 and out["latency_ms"] >= 0
    assert out["role"] is None and out["version"] is None
    (event,) = events_of(settings, "llm.call_succeeded")
    assert event.properties["staff_test"] is True and event.model_id == "mock-small"
    assert (event.input_tokens, event.output_tokens) == (out["input_tokens"], out["output_tokens"])
    assert event.credits is None  # the operator's cost: nothing charged to anyone
    (entry,) = db_rows(settings, AuditEntry, AuditEntry.action == "playground.call")
    assert entry.actor_email == "admin@example.com" and entry.target_id == "mock-small"
    assert entry.after["prompt"] == "unsaved prompt" and entry.after["input_tokens"] == out["input_tokens"]
    assert "pirate" not in str(entry.after)  # the prompt's size and digest, not its text
    assert event.user_id == entry.actor_id  # the staff member is the call's account


def test_a_role_at_an_earlier_version_uses_that_versions_prompt(client, settings, upstream, admin):
    _role(client, admin, "You greet people warmly.")
    asked = {"model": "mock-small", "role": "greeter", "messages": HELLO}
    earlier = client.post(PLAYGROUND, headers=admin, json={**asked, "version": 1})
    assert earlier.status_code == 200, earlier.text
    assert upstream.app.state.last_body["messages"][0]["content"] == "You greet people warmly."
    assert earlier.json()["version"] == 1
    current = client.post(PLAYGROUND, headers=admin, json=asked)
    assert current.json()["version"] == 2
    assert upstream.app.state.last_body["messages"][0]["content"] == "Be terse."
    missing = client.post(PLAYGROUND, headers=admin, json={**asked, "version": 9})
    assert missing.status_code == 404
    events = events_of(settings, "llm.call_succeeded")
    assert [(e.role_id, e.properties["role_version"]) for e in events] == [("greeter", 1), ("greeter", 2)]


def test_a_paid_model_in_no_plan_is_callable_by_staff_and_costs_them_nothing(client, settings, admin):
    db_execute(settings, update(Plan).values(model_tiers="free"))  # mock-large (paid) is in no plan now
    asked = {"model": "mock-large", "system_prompt": "Be brief.", "messages": HELLO}
    response = client.post(PLAYGROUND, headers=admin, json=asked)
    assert response.status_code == 200, response.text
    out = response.json()
    assert Decimal(out["cost_usd"]) > 0 and Decimal(out["credits"]) > 0  # at the rate, for information
    assert db_rows(settings, LedgerEntry) == [] and db_rows(settings, QuotaUsage) == []
    assert client.post(PLAYGROUND, headers=admin, json={**asked, "model": "no-such"}).status_code == 404
    # A model alias (decision 0062) is tried as the model it names, as a user's call would be.
    aliased = "/api/v1/admin/model-aliases/assistant"
    assert client.put(aliased, headers=admin, json={"model_id": "mock-large"}).status_code == 200
    through = client.post(PLAYGROUND, headers=admin, json={**asked, "model": "assistant"})
    assert through.status_code == 200, through.text
    assert through.json()["model"] == "mock-large"


@pytest.mark.parametrize("role", ["analyst", "moderator"])
def test_staff_without_catalogue_write_are_refused(client, settings, role):
    headers = staff_headers(client, settings, role)
    asked = {"model": "mock-small", "system_prompt": "Hi", "messages": HELLO}
    assert client.post(PLAYGROUND, headers=headers, json=asked).status_code == 403
    assert events_of(settings, "llm.call_succeeded") == []


def test_hostile_or_oversized_input_is_a_422_and_calls_nothing(client, settings, upstream, admin):
    base = {"model": "mock-small", "system_prompt": "Hi", "messages": HELLO}
    for body in (
        {**base, "system_prompt": "x" * 20_001},
        {**base, "system_prompt": "bad\x00byte"},
        {**base, "messages": HELLO * 21},
        {**base, "messages": []},
        {**base, "messages": [{"role": "system", "content": "sneak in"}]},
        {**base, "messages": [*HELLO, {"role": "assistant", "content": "hello"}]},  # nothing to answer
        {**base, "role": "greeter"},  # both a role and a prompt
        {"model": "mock-small", "messages": HELLO},  # neither
        {**base, "version": 1},  # a version without its role
        {**base, "role": "../etc", "system_prompt": None},
        {**base, "temperature": 9},
        {**base, "max_tokens": 0},
        {**base, "extra": 1},
    ):
        response = client.post(PLAYGROUND, headers=admin, json=body)
        assert response.status_code == 422, (body, response.text)
    too_long = client.post(PLAYGROUND, headers=admin, json={**base, "max_tokens": 10**6})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "max_tokens_too_large"
    assert upstream.app.state.calls == 0 and events_of(settings, "llm.call_succeeded") == []


def test_when_every_provider_fails_it_is_a_502_recorded_and_audited_as_a_failed_staff_test(settings):
    failing = settings.model_copy(update={"mock_fault": "fail"})  # the built-in mock provider fails
    with TestClient(create_app(failing)) as client:
        admin = staff_headers(client, failing, "admin")
        asked = {"model": "mock-large", "system_prompt": "Hi", "messages": HELLO}
        response = client.post(PLAYGROUND, headers=admin, json=asked)
    assert response.status_code == 502 and response.json()["error"]["code"] == "provider_error"
    (event,) = events_of(settings, "llm.call_failed")
    assert event.properties["staff_test"] is True and event.error_code
    (entry,) = db_rows(settings, AuditEntry, AuditEntry.action == "playground.call")
    assert entry.after["ok"] is False and entry.after["error"] == event.error_code
