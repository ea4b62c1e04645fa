"""The staff member's own address and browser: forwarded by the panel, signed with the panel key, and believed
only then (api/core/forwarded.py, dashboard/forwarding.py, docs/decisions/0040)."""

from __future__ import annotations

import time

import httpx
import pytest

from dashboard import forwarding
from dashboard.api_client import ApiClient
from dashboard.settings import get_dashboard_settings
from tests.support.api import (
    PASSWORD,
    bearer,
    create_staff_account,
    enrol_two_factor,
    next_code,
    sign_up,
    staff_headers,
    tokens,
)  # fmt: skip

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
EVENTS = "/api/v1/admin/security-events"


@pytest.fixture
def panel_env(env_settings):
    """The panel's settings read the install's data dir (where the API made the panel key)."""
    get_dashboard_settings.cache_clear()
    yield env_settings
    get_dashboard_settings.cache_clear()


def test_the_panel_forwards_the_staff_members_browser_and_every_log_records_it(panel_env, live_server):
    settings = panel_env
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        create_staff_account(settings, "admin@example.com", "admin")
        totp, _ = enrol_two_factor(http, bearer(tokens(http, "admin@example.com")["access_token"]))
        sign_up(http, "ada@example.com", settings)
    panel = ApiClient(live_server.url)
    panel.origin = forwarding.Browser("203.0.113.7", FIREFOX)  # what Streamlit gives in a script run
    staff = panel.login("admin@example.com", PASSWORD, next_code(totp))
    as_staff = ApiClient(live_server.url, staff.token)
    as_staff.origin = panel.origin

    signed_in = as_staff.get(EVENTS, email="admin@example.com", kind="user.login_succeeded")[0]
    assert (signed_in["ip"], signed_in["user_agent"]) == ("203.0.113.7", FIREFOX)
    (session,) = [s for s in as_staff.get("/api/v1/me/sessions") if s["current"]]
    assert (session["ip"], session["user_agent"]) == ("203.0.113.7", FIREFOX)
    ada = as_staff.get("/api/v1/admin/users", q="ada@")["items"][0]
    as_staff.post(f"/api/v1/admin/users/{ada['id']}/block", {"reason": "spam from this account"})
    (blocked,) = as_staff.get("/api/v1/admin/audit", action="user.block")
    assert (blocked["ip"], blocked["user_agent"]) == ("203.0.113.7", FIREFOX)


def _failed_login(client, email: str, headers: dict[str, str]) -> None:
    answer = client.post(LOGIN, json={"email": email, "password": "wrong-password"}, headers=headers)
    assert answer.status_code == 401, answer.text


LOGIN = "/api/v1/auth/login"


def _signed(
    key: str, ip: str, agent: str, at: float, method: str = "POST", target: str = LOGIN, token: str = ""
) -> dict[str, str]:
    """The headers the panel would send with `method target` and Authorization `token`."""
    authorization = {"Authorization": token} if token else {}
    request = httpx.Request(method, f"http://testserver{target}", headers=authorization)
    stamp = str(int(at))
    return {
        "X-Staff-IP": ip,
        "X-Staff-User-Agent": agent,
        "X-Staff-Timestamp": stamp,
        "X-Staff-Signature": forwarding.signature(key, ip, agent, stamp, request),
    }


def test_forwarded_headers_are_believed_only_when_signed_recently_with_the_panel_key(client, settings):
    key = settings.panel_key.get_secret_value()
    now = time.time()
    forged = {"X-Staff-IP": "198.51.100.9", "X-Staff-User-Agent": "forged"}
    attacks = {
        "unsigned": forged,
        "wrong_key": _signed("k" * 43, "198.51.100.9", "forged", now),
        "tampered": {**_signed(key, "198.51.100.8", "forged", now), "X-Staff-IP": "198.51.100.9"},
        "replayed": _signed(key, "198.51.100.9", "forged", now - 120),
        "from_the_future": _signed(key, "198.51.100.9", "forged", now + 120),
        "not_an_address": _signed(key, "evil.example", "forged", now),
        "bad_timestamp": {**forged, "X-Staff-Timestamp": "soon", "X-Staff-Signature": "00"},
    }
    for name, headers in attacks.items():
        _failed_login(client, f"{name}@example.com", {"User-Agent": f"real/{name}", **headers})
    hostile = '=HYPERLINK("http://evil.example")' + "A" * 1000  # signed: stored, cut, never run

    _failed_login(client, "hostile@example.com", _signed(key, "2001:db8::1", hostile, now))

    _failed_login(client, "good@example.com", _signed(key, "203.0.113.7", FIREFOX, now))

    admin = staff_headers(client, settings, "admin")
    events = client.get(EVENTS, headers=admin, params={"kind": "user.login_failed", "limit": 100}).json()
    seen = {e["email"].split("@")[0]: (e["ip"], e["user_agent"]) for e in events}
    for name in attacks:  # the socket's peer and the request's own User-Agent, as for any caller
        assert seen[name] == ("testclient", f"real/{name}"), name
    assert seen["hostile"] == ("2001:db8::1", hostile[:300])
    assert seen["good"] == ("203.0.113.7", FIREFOX)


def test_the_panel_forwards_nothing_without_a_key_or_outside_a_script_run(tmp_path, monkeypatch):
    monkeypatch.setenv("AIADMIN_DATA_DIR", str(tmp_path))  # no panel_key file there
    monkeypatch.delenv("AIADMIN_PANEL_KEY", raising=False)
    get_dashboard_settings.cache_clear()
    try:
        request = httpx.Request("GET", "http://api/api/v1/me")
        assert forwarding.headers(forwarding.Browser("203.0.113.7", FIREFOX), request) == {}
        assert forwarding.browser() is None  # no Streamlit script run here
        monkeypatch.setenv("AIADMIN_PANEL_KEY", "p" * 40)
        get_dashboard_settings.cache_clear()
        sent = forwarding.headers(forwarding.Browser("203.0.113.7", FIREFOX), request, now=1_000)
        assert sent["X-Staff-Timestamp"] == "1000"
        assert sent["X-Staff-Signature"] == forwarding.signature(
            "p" * 40, "203.0.113.7", FIREFOX, "1000", request
        )
    finally:
        get_dashboard_settings.cache_clear()


def test_a_captured_signature_is_worthless_on_any_other_request(client, settings):
    """Someone who sees the panel's traffic copies a signed set of headers and sends it, within the minute,
    with another request: another method, path, query or token. The API believes none of them (it records the
    socket's peer), only the request the set was signed for (docs/decisions/0046)."""
    key = settings.panel_key.get_secret_value()
    now = time.time()
    sign_up(client, "ada@example.com", settings)
    admin = staff_headers(client, settings, "admin")
    other_admin = staff_headers(client, settings, "admin", "root@example.com")
    token, root = admin["Authorization"], other_admin["Authorization"]
    ada = client.get("/api/v1/admin/users", params={"q": "ada@"}, headers=admin).json()["items"][0]["id"]
    block, unblock = f"/api/v1/admin/users/{ada}/block", f"/api/v1/admin/users/{ada}/unblock"

    def act(path: str, forwarded: dict[str, str], headers=admin) -> tuple[str, str]:
        answer = client.post(path, json={"reason": "replay test"}, headers={**headers, **forwarded})
        assert answer.status_code == 200, answer.text
        action = "user.block" if path.endswith("/block") else "user.unblock"
        rows = client.get("/api/v1/admin/audit", params={"action": action}, headers=admin).json()
        return rows[0]["ip"], rows[0]["user_agent"]

    captured = {  # each signed for another request than the block it is replayed on
        "another_method": _signed(key, "198.51.100.1", FIREFOX, now, "GET", block, token),
        "another_path": _signed(key, "198.51.100.2", FIREFOX, now, "POST", unblock, token),
        "another_query": _signed(key, "198.51.100.3", FIREFOX, now, "POST", f"{block}?x=1", token),
        "another_token": _signed(key, "198.51.100.4", FIREFOX, now, "POST", block, root),
        "no_token": _signed(key, "198.51.100.5", FIREFOX, now, "POST", block),
    }
    for name, forwarded in captured.items():
        assert act(block, forwarded) == ("testclient", "testclient"), name
        assert act(unblock, {}) == ("testclient", "testclient")

    signed_for_it = _signed(key, "203.0.113.7", FIREFOX, now, "POST", block, token)
    assert act(block, signed_for_it) == ("203.0.113.7", FIREFOX)
