"""The client's IP address comes from the socket, or from the entries trusted proxies appended to
X-Forwarded-For: never from what the client wrote itself."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from aiadmin.serve import services
from api.core.settings import Settings
from api.main import create_app
from signed_origin import forwarded_client
from tests.conftest import TEST_SECRET
from tests.support.api import PASSWORD, bearer, confirm, register, sign_up

LOGIN = "/api/v1/auth/login"


def _recorded_ips(client, access_token: str) -> set[str]:
    """The addresses the account's sessions and security log hold, as its owner sees them."""
    headers = bearer(access_token)
    sessions = client.get("/api/v1/me/sessions", headers=headers).json()
    events = client.get("/api/v1/me/security-events", headers=headers).json()
    return {s["ip"] for s in sessions} | {e["ip"] for e in events}


def test_with_no_trusted_proxy_a_forged_forwarded_for_is_ignored_and_the_socket_address_recorded(
    live_server, settings
):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        register(http, "ada@example.com")
        confirm(http, settings, "ada@example.com")
        forged = {"X-Forwarded-For": "203.0.113.9"}
        pair = http.post(LOGIN, json={"email": "ada@example.com", "password": PASSWORD}, headers=forged)
        assert pair.status_code == 200, pair.text
        assert _recorded_ips(http, pair.json()["access_token"]) == {"127.0.0.1"}


def test_with_no_trusted_proxy_a_forged_address_does_not_escape_the_per_ip_login_throttle(live_server):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        statuses = [
            http.post(
                LOGIN,
                json={"email": f"victim{n}@example.com", "password": "wrong-password"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(21)
        ]
    # All 21 came from one socket address: the per-IP limit (20 failures) applies.
    assert statuses == [401] * 20 + [429]


@pytest.mark.parametrize(
    ("trusted_proxies", "forwarded_for"),
    [
        (1, "6.6.6.6, 203.0.113.7"),  # the client wrote 6.6.6.6, the load balancer appended its peer
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2"),  # the same through two proxies: the first appended 203.…
    ],
)
def test_behind_trusted_proxies_the_client_is_the_entry_they_appended(
    settings, trusted_proxies, forwarded_for
):
    proxied = settings.model_copy(update={"trusted_proxies": trusted_proxies})
    with TestClient(create_app(proxied)) as client:
        sign_up(client, "ada@example.com")
        pair = client.post(
            LOGIN,
            json={"email": "ada@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": forwarded_for},
        )
        ips = _recorded_ips(client, pair.json()["access_token"])
    assert "203.0.113.7" in ips
    assert not ips & {"6.6.6.6", "10.0.0.2"}


PEER = "192.0.2.1"


@pytest.mark.parametrize(
    ("trusted_proxies", "header_lines", "expected"),
    [
        (0, ["203.0.113.9"], PEER),  # no proxy: the header is the client's own
        (1, [], PEER),  # no header: the request did not come through the proxy
        (1, ["6.6.6.6", "203.0.113.7"], "203.0.113.7"),  # two header lines are one list, in order
        (2, ["203.0.113.7"], PEER),  # fewer entries than proxies: not through all of them
        (1, ["203.0.113.7, not-an-address"], PEER),
        (1, ["6.6.6.6, 203.0.113.7:4711"], "203.0.113.7"),  # a port is dropped
        (1, ["[2001:DB8::1]:4711"], "2001:db8::1"),  # IPv6, normalised
        (3, ["6.6.6.6, 203.0.113.7 ,10.0.0.2,10.0.0.3"], "203.0.113.7"),
    ],
)
def test_the_client_address_is_counted_from_the_right(trusted_proxies, header_lines, expected):
    assert forwarded_client(PEER, header_lines, trusted_proxies) == expected


def test_the_old_first_entry_setting_is_refused_with_the_variable_to_set_instead():
    with pytest.raises(ValidationError, match="AIADMIN_TRUSTED_PROXIES"):
        Settings(environment="test", secret_key=TEST_SECRET, client_ip_header="x-forwarded-for")


def test_make_run_serves_the_api_without_uvicorns_own_proxy_headers():
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: a local client could choose its address."""
    (api,) = [s for s in services("127.0.0.1", 8000, 3000, 8501) if s.name == "api"]
    assert "--no-proxy-headers" in api.argv
