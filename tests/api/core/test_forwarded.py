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
    answer = client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong-password"}, headers=headers
    )
    assert answer.status_code == 401, answer.text


def _signed(key: str, ip: str, agent: str, at: float) -> dict[str, str]:
    stamp = str(int(at))
    return {
        "X-Staff-IP": ip,
        "X-Staff-User-Agent": agent,
        "X-Staff-Timestamp": stamp,
        "X-Staff-Signature": forwarding.signature(key, ip, agent, stamp),
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
        assert forwarding.headers(forwarding.Browser("203.0.113.7", FIREFOX)) == {}
        assert forwarding.browser() is None  # no Streamlit script run here
        monkeypatch.setenv("AIADMIN_PANEL_KEY", "p" * 40)
        get_dashboard_settings.cache_clear()
        sent = forwarding.headers(forwarding.Browser("203.0.113.7", FIREFOX), now=1_000)
        assert sent["X-Staff-Timestamp"] == "1000"
        assert sent["X-Staff-Signature"] == forwarding.signature("p" * 40, "203.0.113.7", FIREFOX, "1000")
    finally:
        get_dashboard_settings.cache_clear()
