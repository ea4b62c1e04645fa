"""The security log: who, when, IP, user agent and outcome, for oneself and for security staff."""

from __future__ import annotations

from tests.support.api import PASSWORD, bearer, sign_up, staff_headers, tokens


def test_security_staff_can_filter_everyones_log_and_others_cannot_read_it(client, settings):
    sign_up(client, "ada@example.com")
    client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": "wrong-password"},
        headers={"User-Agent": "curl/8"},
    )
    admin = staff_headers(client, settings, "admin")
    failed = client.get(
        "/api/v1/admin/security-events",
        headers=admin,
        params={"email": "ADA@example.com", "kind": "user.login_failed"},
    ).json()
    assert len(failed) == 1
    assert failed[0]["outcome"] == "failure" and failed[0]["user_agent"] == "curl/8"
    assert failed[0]["details"]["error_code"] == "invalid_credentials" and failed[0]["ip"]

    moderator = staff_headers(client, settings, "moderator")
    assert client.get("/api/v1/admin/security-events", headers=moderator).status_code == 403
    ada = bearer(tokens(client, "ada@example.com", PASSWORD)["access_token"])
    own = client.get("/api/v1/me/security-events", headers=ada).json()
    assert {e["email"] for e in own} == {"ada@example.com"}
    assert [e["kind"] for e in own][:2] == ["user.login_succeeded", "user.login_failed"]
