"""TOTP enrolment and verification, recovery codes, and the 2FA requirement for admins."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pyotp

from tests.support.api import (
    PASSWORD,
    bearer,
    completion_body,
    create_staff_account,
    event_counts,
    sign_up,
    tokens,
)


def _enrol(client, headers, clock) -> tuple[pyotp.TOTP, list[str]]:
    setup = client.post("/api/v1/auth/2fa/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    uri = setup.json()["otpauth_uri"]
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parse_qs(parsed.query)["issuer"] == ["aiadmin"]
    totp = pyotp.TOTP(setup.json()["secret"])
    enabled = client.post("/api/v1/auth/2fa/enable", headers=headers, json={"code": totp.at(clock.now())})
    assert enabled.status_code == 200, enabled.text
    return totp, enabled.json()["recovery_codes"]


def _login(client, email: str, otp: str | None = None):
    body = {"email": email, "password": PASSWORD} | ({"otp": otp} if otp is not None else {})
    return client.post("/api/v1/auth/login", json=body)


def _next_code(totp: pyotp.TOTP, clock) -> str:
    """The code of the next time step, the clock moved on to it (each step's code is accepted once)."""
    return totp.at(clock.advance(seconds=30))


def test_enrolment_gives_ten_single_use_recovery_codes_and_login_then_needs_a_code(client, settings, clock):
    headers = sign_up(client, "ada@example.com")
    totp, codes = _enrol(client, headers, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/api/v1/me", headers=headers).json()["two_factor_enabled"] is True

    missing = _login(client, "ada@example.com")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "otp_required"
    wrong = _login(client, "ada@example.com", "000000" if totp.at(clock.now()) != "000000" else "111111")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_otp"
    assert _login(client, "ada@example.com", _next_code(totp, clock)).status_code == 200
    assert event_counts(settings)["security.two_factor_enabled"] == 1


def test_a_totp_code_is_accepted_once(client, clock):
    headers = sign_up(client, "ada@example.com")
    totp, _ = _enrol(client, headers, clock)
    code = _next_code(totp, clock)
    assert _login(client, "ada@example.com", code).status_code == 200
    replay = _login(client, "ada@example.com", code)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "invalid_otp"
    # One step of drift either side is accepted, two are not.
    two_ahead = totp.at(clock.now() + timedelta(seconds=60))
    assert _login(client, "ada@example.com", two_ahead).status_code == 401
    assert _login(client, "ada@example.com", totp.at(clock.now() + timedelta(seconds=30))).status_code == 200


def test_a_recovery_code_works_once_in_place_of_a_totp_code(client, settings, clock):
    headers = sign_up(client, "ada@example.com")
    _, codes = _enrol(client, headers, clock)
    assert _login(client, "ada@example.com", codes[0].upper()).status_code == 200
    again = _login(client, "ada@example.com", codes[0])
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_otp"
    assert _login(client, "ada@example.com", codes[1].replace("-", "")).status_code == 200
    assert event_counts(settings)["security.recovery_code_used"] == 2


def test_enabling_needs_a_valid_code_and_setup_first(client):
    headers = sign_up(client, "ada@example.com")
    not_set_up = client.post("/api/v1/auth/2fa/enable", headers=headers, json={"code": "123456"})
    assert not_set_up.status_code == 409 and not_set_up.json()["error"]["code"] == "two_factor_not_set_up"
    client.post("/api/v1/auth/2fa/setup", headers=headers)
    wrong = client.post("/api/v1/auth/2fa/enable", headers=headers, json={"code": "12345"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_otp"
    assert client.get("/api/v1/me", headers=headers).json()["two_factor_enabled"] is False


def test_disabling_needs_a_code_and_is_logged(client, settings, clock):
    headers = sign_up(client, "ada@example.com")
    _, codes = _enrol(client, headers, clock)
    wrong = client.post("/api/v1/auth/2fa/disable", headers=headers, json={"code": "badcode"})
    assert wrong.status_code == 401
    assert (
        client.post("/api/v1/auth/2fa/disable", headers=headers, json={"code": codes[0]}).status_code == 204
    )
    assert _login(client, "ada@example.com").status_code == 200
    assert event_counts(settings)["security.two_factor_disabled"] == 1


def test_new_recovery_codes_replace_the_old_ones(client, clock):
    headers = sign_up(client, "ada@example.com")
    _, old = _enrol(client, headers, clock)
    new = client.post("/api/v1/auth/2fa/recovery-codes", headers=headers, json={"code": old[0]}).json()
    assert len(new["recovery_codes"]) == 10
    assert _login(client, "ada@example.com", old[1]).json()["error"]["code"] == "invalid_otp"
    assert _login(client, "ada@example.com", new["recovery_codes"][0]).status_code == 200


def test_an_admin_without_a_second_factor_can_only_enrol_one(client, settings, clock):
    create_staff_account(settings, "boss@example.com", "admin")
    headers = bearer(tokens(client, "boss@example.com")["access_token"])
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    for response in (
        client.get("/api/v1/admin/security-events", headers=headers),
        client.get("/v1/models", headers=headers),
        client.post("/v1/chat/completions", headers=headers, json=completion_body()),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_required"

    _enrol(client, headers, clock)
    assert client.get("/api/v1/admin/security-events", headers=headers).status_code == 200
    assert _login(client, "boss@example.com").json()["error"]["code"] == "otp_required"
