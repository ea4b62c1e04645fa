"""The panel's session at the access token's boundary (dashboard/api_client.py `Credentials`): refreshed
ahead of expiry, once however many calls find it due, ended cleanly when the API refuses it. The API and
the panel read the same held `clock`."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest

from dashboard.api_client import ApiClient, ApiError, SessionEnded
from tests.dashboard.conftest import PAGES, sign_in_staff
from tests.support.api import register

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
USERS = "/api/v1/admin/users"


@pytest.fixture
def staff(env_settings, live_server, clock, monkeypatch):
    """A moderator signed in at the clock's now, whose panel reads the same clock."""
    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    return sign_in_staff(env_settings, live_server.url, "moderator", clock=clock)


def _lifetime(settings) -> timedelta:
    return timedelta(minutes=settings.access_token_minutes)


@sqlite_only
def test_an_action_started_a_second_before_expiry_runs_on_a_fresh_token(
    staff, env_settings, live_server, clock
):
    with httpx.Client(base_url=live_server.url) as http:
        register(http, "ada@example.com")
    client = ApiClient.of(staff, live_server.url)
    uid = client.get(USERS, q="ada@example.com")["items"][0]["id"]
    first = staff.token

    clock.advance(_lifetime(env_settings) - timedelta(seconds=1))
    client.post(f"{USERS}/{uid}/block", {"reason": "spam in every chat"})
    assert staff.token != first  # refreshed before the call, not after a refusal

    clock.advance(seconds=2)  # the first token has expired on the way; the action did not depend on it
    with pytest.raises(ApiError) as refused:
        ApiClient(live_server.url, first).me()
    assert refused.value.code == "not_authenticated"
    assert client.get(f"{USERS}/{uid}")["account"]["is_blocked"] is True


@sqlite_only
def test_calls_that_find_the_token_due_at_once_refresh_it_once(
    staff, env_settings, live_server, clock, monkeypatch
):
    refreshes: list[str] = []
    request_tokens = ApiClient.request_tokens

    def counted(self, refresh_token):
        refreshes.append(refresh_token)
        return request_tokens(self, refresh_token)

    monkeypatch.setattr(ApiClient, "request_tokens", counted)
    clock.advance(_lifetime(env_settings) - timedelta(seconds=30))
    client, start = ApiClient.of(staff, live_server.url), threading.Barrier(6)
    answers: list[object] = []

    def call() -> None:
        start.wait()
        try:
            answers.append(client.me()["email"])
        except ApiError as exc:  # pragma: no cover - what the test must not see
            answers.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == ["moderator@example.com"] * 6
    assert len(refreshes) == 1  # a second refresh with the same token would have revoked the session
    clock.advance(_lifetime(env_settings))  # and the session goes on: the rotated token refreshes again
    assert client.me()["email"] == "moderator@example.com" and len(refreshes) == 2


@sqlite_only
def test_a_revoked_session_ends_cleanly_and_the_live_strip_renders_after_expiry(
    staff, env_settings, live_server, clock
):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(PAGES / "overview.py"), default_timeout=60)
    app.session_state["staff"], app.session_state["locale"] = staff, "en"
    app.run()
    clock.advance(_lifetime(env_settings) + timedelta(minutes=1))  # idle past the token's expiry
    app.run()  # as the live strip's fragment runs: without app.py in front of it
    assert not app.error, [e.value for e in app.error]
    assert "Requests" in [m.label for m in app.metric]

    ApiClient(live_server.url, staff.token).post("/api/v1/auth/logout")  # signed out elsewhere
    clock.advance(_lifetime(env_settings))
    with pytest.raises(SessionEnded):
        ApiClient.of(staff, live_server.url).me()
    app.run()
    assert not app.error and not app.exception
    assert "staff" not in app.session_state
    assert app.session_state["signed_out_because"].startswith("your session has ended")
