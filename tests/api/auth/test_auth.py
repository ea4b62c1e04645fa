"""Registration, email confirmation and login."""

from __future__ import annotations

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from api.accounts.models import Account
from api.auth import credentials as security_module
from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from tests.support.api import (
    PASSWORD,
    bearer,
    completion_body,
    confirm,
    db_execute,
    delivered,
    event_counts,
    link_token,
    login,
    mails,
    register,
    sign_up,
    tokens,
)


def _account_count(settings) -> int:
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Account))
    engine.dispose()
    return count


def test_register_creates_a_free_user_mails_a_confirmation_link_and_records_an_event(client, settings):
    response = client.post(
        "/api/v1/auth/register", json={"email": " Ada@Example.COM ", "password": PASSWORD, "country": "de"}
    )
    assert response.status_code == 202
    assert "password" not in response.text
    (mail,) = mails(settings, "ada@example.com", "confirm_email")
    assert mail.sent_at is not None  # delivered after the response by the console sender
    (sent,) = delivered("ada@example.com", mail.subject)
    assert f"{settings.public_url}/api/v1/auth/confirm-email?token=" in sent.body
    assert event_counts(settings) == {"user.registered": 1}
    confirm(client, settings, "ada@example.com")
    me = client.get("/api/v1/me", headers=bearer(login(client, "ada@example.com"))).json()
    assert me["email"] == "ada@example.com"
    assert me["role"] == "user" and me["plan_code"] == "free" and me["country"] == "DE"
    assert me["two_factor_enabled"] is False


@pytest.mark.both_databases  # the unique constraint's error
def test_registering_the_same_email_twice_makes_no_second_account(client, settings):
    register(client, "ada@example.com")
    response = client.post("/api/v1/auth/register", json={"email": "ADA@example.com", "password": PASSWORD})
    assert (
        response.status_code == 202
    )  # the same answer as for a new email (tests/api/auth/test_enumeration.py)
    assert _account_count(settings) == 1
    assert event_counts(settings) == {"user.registered": 1}


@pytest.mark.parametrize("password", ["password", "qwertyuiop", "iloveyou1", "Password1"])
def test_one_of_the_most_common_passwords_is_refused_with_a_422(client, settings, password):
    response = client.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": password})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "password_too_common"
    assert _account_count(settings) == 0


def test_passwords_are_8_to_128_characters_with_no_composition_rules(client):
    ok = "correct horse battery staple " * 4  # 116 characters, lower case and spaces only
    assert (
        client.post("/api/v1/auth/register", json={"email": "a@example.com", "password": ok}).status_code
        == 202
    )
    for bad in ("short12", "x" * 129):
        response = client.post("/api/v1/auth/register", json={"email": "b@example.com", "password": bad})
        assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    exactly_128 = "long-passphrase-" * 8
    assert (
        client.post(
            "/api/v1/auth/register", json={"email": "c@example.com", "password": exactly_128}
        ).status_code
        == 202
    )


def test_bad_registration_input_is_a_4xx_with_a_stable_code_and_nothing_written(client, settings):
    for body in (
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "ada@example.com", "password": PASSWORD, "country": "Germany"},
        {"email": "ada@example.com", "password": PASSWORD, "role": "admin"},
        {"email": "ada@example.com"},
        {"email": "a\u0000b@example.com", "password": PASSWORD},
    ):
        response = client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    response = client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert _account_count(settings) == 0
    assert event_counts(settings) == {}


def test_login_is_refused_until_the_email_is_confirmed_and_the_link_works_once(client, settings):
    register(client, "ada@example.com")
    refused = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "email_not_verified"

    token = link_token(settings, "ada@example.com", "confirm_email")
    assert client.get("/api/v1/auth/confirm-email", params={"token": token}).json() == {"status": "confirmed"}
    again = client.get("/api/v1/auth/confirm-email", params={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_token"
    assert login(client, "ada@example.com")
    assert event_counts(settings)["user.email_confirmed"] == 1


def test_a_tampered_or_expired_confirmation_link_is_refused(client, settings):
    register(client, "ada@example.com")
    token = link_token(settings, "ada@example.com", "confirm_email")
    tampered = client.post("/api/v1/auth/confirm-email", json={"token": token[:-2] + "xx"})
    assert tampered.status_code == 400 and tampered.json()["error"]["code"] == "invalid_token"

    from api.auth.models import OneTimeToken
    from api.core.types import utcnow

    db_execute(settings, update(OneTimeToken).values(expires_at=utcnow()))
    expired = client.post("/api/v1/auth/confirm-email", json={"token": token})
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalid_token"


def test_resend_confirmation_answers_the_same_for_any_email_and_mails_only_unconfirmed_accounts(
    client, settings
):
    register(client, "new@example.com")
    sign_up(client, "done@example.com")
    answers = {
        email: client.post("/api/v1/auth/resend-confirmation", json={"email": email})
        for email in ("new@example.com", "done@example.com", "nobody@example.com")
    }
    assert {r.status_code for r in answers.values()} == {202}
    assert len({r.text for r in answers.values()}) == 1
    assert len(mails(settings, "new@example.com", "confirm_email")) == 2
    assert len(mails(settings, "done@example.com", "confirm_email")) == 1
    assert mails(settings, "nobody@example.com") == []


def test_login_returns_a_15_minute_access_token_with_pinned_claims_and_a_refresh_token(client, settings):
    account_id = client.get("/api/v1/me", headers=sign_up(client, "ada@example.com")).json()["id"]
    pair = tokens(client, "ada@example.com")
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 15 * 60
    assert pair["refresh_token"].startswith("rt_") and pair["refresh_expires_in"] == 30 * 24 * 3600
    header = jwt.get_unverified_header(pair["access_token"])
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["sub"] == account_id and claims["typ"] == "access" and claims["aud"] == "aiadmin"
    assert claims["exp"] - claims["iat"] == 15 * 60 and claims["sid"]


def test_wrong_password_unknown_email_and_non_email_get_the_same_401(client, settings):
    sign_up(client, "ada@example.com")
    wrong = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "wrong-password"})
    unknown = client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    not_an_email = client.post("/api/v1/auth/login", json={"email": "nobody", "password": PASSWORD})
    with_nul = client.post("/api/v1/auth/login", json={"email": "a\u0000@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == not_an_email.status_code == 401
    assert wrong.json() == unknown.json() == not_an_email.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert with_nul.status_code == 422
    assert event_counts(settings)["user.login_failed"] == 3


def test_an_unknown_email_costs_one_password_hash_check_like_a_known_one(client, settings, monkeypatch):
    """No enumeration by timing: a miss verifies a dummy hash, so both paths do the same work."""
    sign_up(client, "ada@example.com")
    calls = []
    real = security_module.verify_password
    monkeypatch.setattr("api.auth.credentials.verify_password", lambda h, p: calls.append(h) or real(h, p))
    client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "wrong-password"})
    client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": "wrong-password"})
    assert len(calls) == 2
    assert calls[1] == security_module.DUMMY_PASSWORD_HASH


def test_a_hash_made_with_old_parameters_is_upgraded_at_the_next_login(client, settings, production_hashing):
    sign_up(client, "ada@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    db_execute(settings, update(Account).values(password_hash=weak))
    login(client, "ada@example.com")
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        stored = conn.scalar(select(Account.password_hash))
    engine.dispose()
    assert stored != weak and stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored
    assert login(client, "ada@example.com")


def test_a_blocked_account_cannot_log_in_nor_use_a_token_it_already_has(client, settings):
    headers = sign_up(client, "ada@example.com")
    db_execute(settings, update(Account).values(is_blocked=True))
    assert client.get("/api/v1/me", headers=headers).json()["error"]["code"] == "account_blocked"
    assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 403
    response = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_blocked"


def test_login_records_ip_user_agent_country_and_client_app(client, settings):
    sign_up(client, "ada@example.com")
    client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-Country": "fr", "X-Client": "Telegram", "User-Agent": "tg-bot/1.0"},
    )
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        event = conn.execute(
            select(UsageEvent).where(UsageEvent.type == "user.login_succeeded").order_by(UsageEvent.id.desc())
        ).first()
    engine.dispose()
    assert event.client == "telegram" and event.country == "FR"
    history = client.get("/api/v1/me/security-events", headers=bearer(login(client, "ada@example.com")))
    latest_login = [e for e in history.json() if e["kind"] == "user.login_succeeded"][1]
    assert latest_login["user_agent"] == "tg-bot/1.0" and latest_login["outcome"] == "success"
    assert latest_login["ip"] == "testclient"


def test_event_country_is_the_proxy_header_else_the_profile(client, settings):
    headers = sign_up(client, "ada@example.com", country="DE")
    client.post("/v1/chat/completions", headers=headers, json=completion_body())
    client.post("/v1/chat/completions", headers={**headers, "X-Country": "JP"}, json=completion_body())
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        countries = conn.scalars(
            select(UsageEvent.country).where(UsageEvent.type == "llm.call_succeeded").order_by(UsageEvent.id)
        ).all()
    engine.dispose()
    assert countries == ["DE", "JP"]
