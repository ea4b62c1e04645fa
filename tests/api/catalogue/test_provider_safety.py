"""A provider's settings cannot turn the gateway against the server's own network or break users' calls: a
base URL on the cloud metadata service, loopback or the LAN is refused when saved and again at every
connection, after DNS; extra headers are encrypted at rest, shown masked, and a header with a line break in
it is refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.catalogue.models import ModelRoute, Provider
from api.core.crypto import Encryptor
from api.core.db import make_sync_engine
from api.main import create_app
from api.providers.mock_server import create_mock_app
from tests.support.api import (
    LiveServer,
    completion_body,
    db_execute,
    events_of,
    http_provider_row,
    sign_up,
    staff_headers,
)

PROVIDERS = "/api/v1/admin/providers"
PUBLIC = "93.184.216.34"  # what the test's DNS answers for a name while the admin saves it


def _provider(provider_id: str, base_url: str, **fields) -> dict:
    return {
        "id": provider_id, "display_name": provider_id, "base_url": base_url, "priority": 1,
        "timeout_seconds": 2, "max_retries": 0, **fields,
    }  # fmt: skip


def _route(provider_id: str):
    return ModelRoute.__table__.insert().values(
        model_id="mock-small", provider_id=provider_id, provider_model="mock-small"
    )


def _error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- base URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # the cloud metadata service
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS's, over IPv6
        "http://[::ffff:169.254.169.254]/latest/meta-data/",  # the same, IPv4-mapped
        "http://2852039166/latest/meta-data/",  # the same, as one number (resolved by the C library)
        "http://meta.example.test/latest/meta-data/",  # a name that resolves to it
        "http://127.0.0.2:11434/v1",  # loopback, but not the allowed 127.0.0.1
        "http://[::1]:11434/v1",
        "http://0.0.0.0:8000/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.1/v1",
        "http://100.64.0.1/v1",  # carrier-grade NAT
    ],
)
def test_a_base_url_on_the_metadata_service_loopback_or_the_lan_is_refused_when_saved(
    client, settings, dns, url
):
    dns.names["meta.example.test"] = "169.254.169.254"
    dns.names["api.example.test"] = PUBLIC
    admin = staff_headers(client, settings, "admin")
    assert _error(client.post(PROVIDERS, json=_provider("evil", url), headers=admin)) == (
        400,
        "address_not_allowed",
    )
    good = _provider("relay", "https://api.example.test/v1")
    assert client.post(PROVIDERS, json=good, headers=admin).status_code == 201
    edit = {k: v for k, v in good.items() if k != "id"}
    moved = client.put(f"{PROVIDERS}/relay", json={**edit, "base_url": url}, headers=admin)
    assert _error(moved) == (400, "address_not_allowed")
    listed = {p["id"]: p["base_url"] for p in client.get(PROVIDERS, headers=admin).json()}
    assert listed == {"mock": None, "relay": "https://api.example.test/v1"}  # nothing else saved


def test_loopback_is_allowed_only_when_the_settings_name_it(settings, upstream):
    """A local Ollama on 127.0.0.1 is a real use: allowed by AIADMIN_ALLOWED_PRIVATE_NETWORKS (the suite's
    conftest allows 127.0.0.1), refused without it."""
    body = _provider("ollama", f"{upstream.url}/v1")
    with TestClient(create_app(settings)) as client:
        admin = staff_headers(client, settings, "admin")
        assert client.post(PROVIDERS, json=body, headers=admin).status_code == 201
    strict = settings.model_copy(update={"allowed_private_networks": []})
    with TestClient(create_app(strict)) as client:
        admin = {"Authorization": admin["Authorization"]}
        refused = client.post(PROVIDERS, json={**body, "id": "ollama2"}, headers=admin)
        assert _error(refused) == (400, "address_not_allowed")
        assert "127.0.0.1" in refused.json()["error"]["message"]
        assert "AIADMIN_ALLOWED_PRIVATE_NETWORKS" in refused.json()["error"]["message"]


def test_a_name_that_resolves_elsewhere_at_call_time_is_refused_before_anything_is_sent(
    client, settings, dns
):
    """DNS rebinding: the names were public when the admin saved them; at the user's call one resolves to
    a service on the server's loopback, the other to the cloud metadata service. Neither is connected to:
    the call falls back to the next provider, and the internal service receives nothing."""
    internal = create_mock_app()  # stands for any service that only the server itself can reach
    with LiveServer(internal, host="127.0.0.2") as hidden:
        dns.names.update({"llm.example.test": PUBLIC, "meta.example.test": PUBLIC})
        admin = staff_headers(client, settings, "admin")
        for provider_id, name, priority in (
            ("rebound", "llm.example.test", 1),
            ("meta", "meta.example.test", 2),
        ):
            url = f"http://{name}:{hidden.port}/v1"
            body = _provider(provider_id, url, priority=priority)
            assert client.post(PROVIDERS, json=body, headers=admin).status_code == 201
            db_execute(settings, _route(provider_id))
        dns.names.update({"llm.example.test": "127.0.0.2", "meta.example.test": "169.254.169.254"})

        ada = sign_up(client, "ada@example.com")
        response = client.post("/v1/chat/completions", headers=ada, json=completion_body())
        assert response.status_code == 200, response.text
        assert internal.state.calls == 0
        tested = client.post(f"{PROVIDERS}/rebound/test", headers=admin).json()  # the admin's test call too
        assert (tested["ok"], tested["error"]) == (False, "provider_address_refused")
        assert internal.state.calls == 0
    (event,) = events_of(settings, "llm.call_succeeded")
    assert event.provider == "mock"  # the built-in provider, next in priority
    assert event.properties["attempts"] == [
        {"provider": "rebound", "error": "provider_address_refused"},
        {"provider": "meta", "error": "provider_address_refused"},
    ]


# --- extra headers ------------------------------------------------------------------------------------


def test_a_header_with_a_line_break_is_refused_and_users_calls_keep_working(client, settings, upstream):
    admin = staff_headers(client, settings, "admin")
    body = _provider("relay", f"{upstream.url}/v1", extra_headers={"X-Tenant": "tenant-0001"})
    assert client.post(PROVIDERS, json=body, headers=admin).status_code == 201
    db_execute(settings, _route("relay"))
    fields = {k: v for k, v in body.items() if k != "id"}

    attack = client.put(
        f"{PROVIDERS}/relay", json={**fields, "extra_headers": {"X-A": "b\r\nX-Evil: 1"}}, headers=admin
    )
    assert _error(attack) == (400, "invalid_header")
    for headers in (
        {"X-A\r\nX-Evil": "1"},  # in the name
        {"X-A": "b\nX-Evil: 1"},
        {"X-A": "b\rc"},
        {"X-A": "tab\there"},
        {"X-A": "del\x7f"},
        {"X A": "b"},  # not an HTTP token
        {"Content-Length": "0"},  # framing is the HTTP client's business
        {"Host": "internal.example"},
    ):
        assert _error(
            client.put(f"{PROVIDERS}/relay", json={**fields, "extra_headers": headers}, headers=admin)
        ) == (
            400,
            "invalid_header",
        ), headers
        added = client.post(PROVIDERS, json={**body, "id": "other", "extra_headers": headers}, headers=admin)
        assert _error(added) == (400, "invalid_header"), headers

    ada = sign_up(client, "ada@example.com")
    response = client.post("/v1/chat/completions", headers=ada, json=completion_body())
    assert response.status_code == 200, response.text
    assert upstream.app.state.calls == 1  # served by the provider, as it was before the refused edit
    assert {p["id"] for p in client.get(PROVIDERS, headers=admin).json()} == {"mock", "relay"}


def test_a_header_with_a_line_break_saved_before_the_fix_fails_that_provider_not_the_call(settings, upstream):
    """A row saved when the API still took such a header (the migration encrypts it as it was): the
    provider's calls fail cleanly, the next provider answers, nobody gets a 500."""
    settings = settings.model_copy(update={"catalogue_cache_seconds": 0})
    db_execute(
        settings,
        http_provider_row(
            settings, "legacy", f"{upstream.url}/v1", priority=1, headers={"X-A": "b\r\nX-Evil: 1"}
        ),
        _route("legacy"),
    )
    with TestClient(create_app(settings)) as client:
        ada = sign_up(client, "ada@example.com")
        response = client.post("/v1/chat/completions", headers=ada, json=completion_body())
    assert response.status_code == 200, response.text
    assert upstream.app.state.calls == 0
    (event,) = events_of(settings, "llm.call_succeeded")
    assert event.provider == "mock"
    assert event.properties["attempts"] == [{"provider": "legacy", "error": "provider_misconfigured"}]


def test_extra_headers_are_encrypted_at_rest_shown_masked_and_sent_decrypted(client, settings, upstream):
    admin = staff_headers(client, settings, "admin")
    secret = "tenant-secret-0123456789"
    body = _provider(
        "relay", f"{upstream.url}/v1", extra_headers={"X-Tenant": secret, "X-Mock-Status": "503"}
    )
    added = client.post(PROVIDERS, json=body, headers=admin)
    assert added.status_code == 201
    assert added.json()["extra_headers"] == {"X-Tenant": "ten…6789", "X-Mock-Status": "…"}
    db_execute(settings, _route("relay"))

    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        row = conn.execute(select(Provider.__table__).where(Provider.id == "relay")).one()
    engine.dispose()
    assert secret not in repr(tuple(row)) and "X-Tenant" not in repr(tuple(row))  # no plaintext column
    assert Encryptor(settings).decrypt(row.extra_headers_encrypted) == (
        '{"X-Mock-Status": "503", "X-Tenant": "tenant-secret-0123456789"}'
    )

    ada = sign_up(client, "ada@example.com")
    assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    (event,) = events_of(settings, "llm.call_succeeded")  # the upstream obeyed the decrypted header
    assert event.properties["attempts"] == [{"provider": "relay", "error": "provider_503"}]
    shown = client.get(PROVIDERS, headers=admin).text + client.get("/api/v1/admin/audit", headers=admin).text
    assert secret not in shown
