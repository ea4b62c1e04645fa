"""TOTP enrolment and verification, recovery codes, re-authentication before a change of the second factor,
the throttling and logging of every code checked, and the 2FA requirement for every staff role."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth.models import RecoveryCode
from api.core.crypto import token_hash
from api.core.db import make_sync_engine
from api.core.migrate import alembic_config, downgrade, upgrade
from api.main import create_app
from tests.support.api import (
    PASSWORD,
    bearer,
    completion_body,
    create_staff_account,
    db_execute,
    enrol_two_factor,
    event_counts,
    events_of,
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
    body = {"code": totp.at(clock.now()), "password": PASSWORD}
    enabled = client.post("/api/v1/auth/2fa/enable", headers=headers, json=body)
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
    wrong = client.post(
        "/api/v1/auth/2fa/enable", headers=headers, json={"code": "12345", "password": PASSWORD}
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_otp"
    assert client.get("/api/v1/me", headers=headers).json()["two_factor_enabled"] is False


def test_disabling_needs_a_code_and_is_logged(client, settings, clock):
    headers = sign_up(client, "ada@example.com")
    _, codes = _enrol(client, headers, clock)
    wrong = client.post(
        "/api/v1/auth/2fa/disable", headers=headers, json={"code": "badcode", "password": PASSWORD}
    )
    assert wrong.status_code == 401
    right = {"code": codes[0], "password": PASSWORD}
    assert client.post("/api/v1/auth/2fa/disable", headers=headers, json=right).status_code == 204
    assert _login(client, "ada@example.com").status_code == 200
    assert event_counts(settings)["security.two_factor_disabled"] == 1


def test_new_recovery_codes_replace_the_old_ones(client, clock):
    headers = sign_up(client, "ada@example.com")
    _, old = _enrol(client, headers, clock)
    body = {"code": old[0], "password": PASSWORD}
    new = client.post("/api/v1/auth/2fa/recovery-codes", headers=headers, json=body).json()
    assert len(new["recovery_codes"]) == 10
    assert _login(client, "ada@example.com", old[1]).json()["error"]["code"] == "invalid_otp"
    assert _login(client, "ada@example.com", new["recovery_codes"][0]).status_code == 200


# What each staff role may do but must not before it has a second factor (a moderator reads every chat and
# grants credits, an analyst and a viewer read everyone's figures).
STAFF_ROUTES = {
    "admin": ("GET", "/api/v1/admin/security-events", None),
    "moderator": ("POST", "/api/v1/admin/users/{ada}/balance", {"amount": "1000", "reason": "a gift"}),
    "analyst": ("GET", "/api/v1/admin/users", None),
    "viewer": ("GET", "/api/v1/admin/health", None),
}


@pytest.mark.parametrize("role", list(STAFF_ROUTES))
def test_every_staff_role_can_only_enrol_a_second_factor_until_it_has_one(client, settings, clock, role):
    sign_up(client, "ada@example.com")
    ada = client.get("/api/v1/me", headers=bearer(tokens(client, "ada@example.com")["access_token"])).json()
    create_staff_account(settings, "staff@example.com", role)
    headers = bearer(tokens(client, "staff@example.com")["access_token"])
    assert client.get("/api/v1/me", headers=headers).json()["must_enrol_two_factor"] is True
    method, path, body = STAFF_ROUTES[role]
    path = path.format(ada=ada["id"])
    for response in (
        client.request(method, path, headers=headers, json=body),
        client.get("/v1/models", headers=headers),
        client.post("/v1/chat/completions", headers=headers, json=completion_body()),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_required"

    _enrol(client, headers, clock)
    assert client.request(method, path, headers=headers, json=body).status_code == 200
    assert _login(client, "staff@example.com").json()["error"]["code"] == "otp_required"


TWO_FA = "/api/v1/auth/2fa"


def _wrong_code(totp: pyotp.TOTP, clock) -> str:
    """Six digits that are no code the API accepts now (those of this step and one either side)."""
    accepted = {totp.at(clock.now() + timedelta(seconds=s)) for s in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


def _own_log(client, headers) -> list[dict]:
    return client.get("/api/v1/me/security-events", headers=headers).json()


def test_wrong_codes_to_disable_or_renew_recovery_codes_are_throttled_and_logged_with_the_sign_in(
    client, clock
):
    headers = sign_up(client, "ada@example.com")
    totp, _ = _enrol(client, headers, clock)
    wrong = {"code": _wrong_code(totp, clock), "password": PASSWORD}
    guesses = [
        client.post(f"{TWO_FA}/{path}", headers=headers, json=wrong)
        for path in ("disable", "recovery-codes") * 3
    ]
    assert [g.status_code for g in guesses] == [401] * 5 + [429]
    assert 0 < int(guesses[-1].headers["Retry-After"]) <= 15 * 60

    # The right code is refused too while the lock lasts, and so is the sign-in's second step: one count.
    right = {"code": _next_code(totp, clock), "password": PASSWORD}
    assert client.post(f"{TWO_FA}/disable", headers=headers, json=right).status_code == 429
    assert _login(client, "ada@example.com", right["code"]).status_code == 429

    log = _own_log(client, headers)
    failed = [e for e in log if e["kind"] == "security.reauthentication_failed"]
    assert len(failed) == 5 and {e["details"]["factor"] for e in failed} == {"second_factor"}
    assert {e["details"]["purpose"] for e in failed} == {"disable_2fa", "recovery_codes"}
    assert all(e["details"]["error_code"] == "invalid_otp" and e["ip"] for e in failed)
    assert [e["details"]["scope"] for e in log if e["kind"] == "security.lockout"] == ["account_source"]

    signed_in = _login(client, "ada@example.com", totp.at(clock.advance(minutes=15)))  # the lock is over
    assert signed_in.status_code == 200
    right = {"code": _next_code(totp, clock), "password": PASSWORD}
    fresh = bearer(signed_in.json()["access_token"])
    assert client.post(f"{TWO_FA}/disable", headers=fresh, json=right).status_code == 204


@pytest.mark.both_databases  # simultaneous takes of one counter
def test_thirty_simultaneous_wrong_codes_get_no_more_checks_than_the_limit(live_server, settings):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        headers = sign_up(http, "ada@example.com", settings)
        totp, _ = enrol_two_factor(http, headers)
        codes = {totp.at(datetime.now(UTC) + timedelta(seconds=s)) for s in (-60, -30, 0, 30, 60)}
        wrong = next(
            c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c not in codes
        )

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live_server.url, headers=headers, timeout=120) as http:
            body = {"code": wrong, "password": PASSWORD}
            responses = await asyncio.gather(*(http.post(f"{TWO_FA}/disable", json=body) for _ in range(30)))
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert sorted(statuses) == [401] * 5 + [429] * 25
    checked = events_of(settings, "security.reauthentication_failed")
    assert [e.properties["factor"] for e in checked] == ["second_factor"] * 5


def test_a_stolen_access_token_alone_cannot_put_its_own_second_factor_on_the_account(client, clock):
    stolen = sign_up(client, "ada@example.com")  # the owner has no second factor yet
    thiefs = pyotp.TOTP(client.post(f"{TWO_FA}/setup", headers=stolen).json()["secret"])
    for bare in ({"code": thiefs.at(clock.now())}, {"code": thiefs.at(clock.now()), "password": ""}):
        refused = client.post(f"{TWO_FA}/enable", headers=stolen, json=bare)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "reauthentication_required"
    guessed = {"code": thiefs.at(clock.now()), "password": "a-guess-at-it"}
    wrong = client.post(f"{TWO_FA}/enable", headers=stolen, json=guessed)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "invalid_password"
    assert client.get("/api/v1/me", headers=stolen).json()["two_factor_enabled"] is False
    assert _login(client, "ada@example.com").status_code == 200  # the owner still signs in
    assert [e["kind"] for e in _own_log(client, stolen)][1] == "security.reauthentication_failed"


def test_a_stolen_access_token_and_a_seen_code_cannot_turn_off_or_renew_the_second_factor(client, clock):
    stolen = sign_up(client, "ada@example.com")
    totp, _ = _enrol(client, stolen, clock)
    seen = {"code": _next_code(totp, clock)}  # over the owner's shoulder, or on a phishing page
    for path in ("disable", "recovery-codes"):
        refused = client.post(f"{TWO_FA}/{path}", headers=stolen, json=seen)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "reauthentication_required"
    assert client.get("/api/v1/me", headers=stolen).json()["two_factor_enabled"] is True
    assert _login(client, "ada@example.com", seen["code"]).status_code == 200  # the code was not spent


def test_recovery_codes_are_stored_as_argon2id_hashes_not_a_fast_hash(client, settings, clock):
    headers = sign_up(client, "ada@example.com")
    _, codes = _enrol(client, headers, clock)
    stored = _stored_recovery_codes(settings)
    assert len(stored) == 10 and all(h.startswith("$argon2id$") for h in stored)
    # Not the HMAC it was: with the table and the key, ~50 bits of code fall to a GPU in a day.
    assert not {token_hash(settings, c.replace("-", "")) for c in codes} & set(stored)


def _stored_recovery_codes(settings) -> list[str]:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(RecoveryCode.code_hash)))
    finally:
        engine.dispose()


@pytest.mark.both_databases  # the migration rebuilds the table its own way on each
def test_recovery_codes_handed_out_before_argon2_still_work_after_the_migration(settings, clock):
    with TestClient(create_app(settings)) as client:
        headers = sign_up(client, "ada@example.com")
        _enrol(client, headers, clock)
        ada = client.get("/api/v1/me", headers=headers).json()["id"]
    before = ScriptDirectory.from_config(alembic_config(settings)).get_revision("0018").down_revision
    downgrade(settings, before)
    assert (
        _stored_recovery_codes(settings) == []
    )  # going down deletes them (a password hash cannot be undone)
    legacy = ["abcde-fghjk", "mnpqr-stuvw"]  # stored as they were before: HMAC-SHA256 under the secret key
    db_execute(
        settings,
        *(
            RecoveryCode.__table__.insert().values(
                id=uuid.uuid4(),
                account_id=uuid.UUID(ada),
                code_hash=token_hash(settings, code.replace("-", "")),
                created_at=clock.now(),
            )
            for code in legacy
        ),
    )
    upgrade(settings)
    assert all(h.startswith("$argon2id$") for h in _stored_recovery_codes(settings))
    with TestClient(create_app(settings)) as client:
        assert _login(client, "ada@example.com", legacy[1]).status_code == 200
        assert _login(client, "ada@example.com", legacy[1]).json()["error"]["code"] == "invalid_otp"
