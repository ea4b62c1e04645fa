"""Personal API keys: shown once, stored as a hash, a Bearer for /v1/* only, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api.auth.models import ApiKey
from api.core.db import make_sync_engine
from tests.support.api import bearer, completion_body, sign_up


def _create(client, headers, name="my bot"):
    response = client.post("/api/v1/me/api-keys", headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(client, settings):
    headers = sign_up(client, "ada@example.com")
    created = _create(client, headers)
    assert created["key"].startswith("aia_") and created["prefix"] == created["key"][:12]
    listed = client.get("/api/v1/me/api-keys", headers=headers).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        stored = conn.execute(select(ApiKey)).one()
    engine.dispose()
    assert created["key"] not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64


@pytest.mark.both_databases  # /v1/* keys are read by the fast lane on PostgreSQL
def test_a_key_is_a_bearer_for_the_openai_endpoints_and_nothing_else(client):
    headers = sign_up(client, "ada@example.com")
    key = bearer(_create(client, headers)["key"])
    assert client.get("/v1/models", headers=key).status_code == 200
    assert client.post("/v1/chat/completions", headers=key, json=completion_body()).status_code == 200
    for method, path in (
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/me/api-keys"),
        ("POST", "/api/v1/auth/logout-all"),
    ):
        response = client.request(method, path, headers=key, json={"name": "x"})
        assert response.status_code == 401, path


@pytest.mark.both_databases  # /v1/* keys are read by the fast lane on PostgreSQL
def test_a_revoked_key_stops_working_and_someone_elses_key_is_not_found(client):
    ada = sign_up(client, "ada@example.com")
    bob = sign_up(client, "bob@example.com")
    created = _create(client, ada)
    assert client.delete(f"/api/v1/me/api-keys/{created['id']}", headers=bob).status_code == 404
    assert client.get("/v1/models", headers=bearer(created["key"])).status_code == 200
    assert client.delete(f"/api/v1/me/api-keys/{created['id']}", headers=ada).status_code == 204
    response = client.get("/v1/models", headers=bearer(created["key"]))
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    assert client.get("/api/v1/me/api-keys", headers=ada).json()[0]["revoked_at"] is not None


@pytest.mark.both_databases  # /v1/* keys are read by the fast lane on PostgreSQL
def test_a_blocked_accounts_key_is_refused(client, settings):
    from sqlalchemy import update

    from api.accounts.models import Account

    headers = sign_up(client, "ada@example.com")
    key = bearer(_create(client, headers)["key"])
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(update(Account).values(is_blocked=True))
    engine.dispose()
    assert client.get("/v1/models", headers=key).json()["error"]["code"] == "account_blocked"
