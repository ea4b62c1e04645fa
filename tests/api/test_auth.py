from __future__ import annotations

import jwt
from sqlalchemy import func, select

from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from api.users.models import Account
from tests.support import PASSWORD, completion_body, event_counts, register, sign_up


def _account_count(settings) -> int:
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Account))
    engine.dispose()
    return count


def test_register_creates_a_free_user_and_a_registration_event(client, settings):
    response = client.post(
        "/api/v1/auth/register", json={"email": " Ada@Example.COM ", "password": PASSWORD, "country": "de"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["role"] == "user" and body["plan_code"] == "free" and body["country"] == "DE"
    assert "password" not in response.text and "password_hash" not in body
    assert event_counts(settings) == {"user.registered": 1}


def test_registering_the_same_email_twice_is_a_409_and_writes_nothing(client, settings):
    register(client, "ada@example.com")
    response = client.post("/api/v1/auth/register", json={"email": "ADA@example.com", "password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"
    assert _account_count(settings) == 1
    assert event_counts(settings) == {"user.registered": 1}


def test_bad_registration_input_is_a_422_with_a_stable_code_and_nothing_written(client, settings):
    for body in (
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "ada@example.com", "password": "short"},
        {"email": "ada@example.com", "password": "x" * 129},
        {"email": "ada@example.com", "password": PASSWORD, "country": "Germany"},
        {"email": "ada@example.com", "password": PASSWORD, "is_admin": True},
        {"email": "ada@example.com"},
    ):
        response = client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation_error"
    response = client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert _account_count(settings) == 0
    assert event_counts(settings) == {}


def test_login_returns_a_short_lived_access_token_for_me(client, settings):
    account = register(client, "ada@example.com")
    response = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer" and 0 < token["expires_in"] <= 15 * 60
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["sub"] == account["id"] and claims["typ"] == "access" and claims["aud"] == "aiadmin"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == account["id"]
    assert event_counts(settings) == {"user.registered": 1, "user.login_succeeded": 1}


def test_wrong_password_and_unknown_email_get_the_same_401_and_a_failed_login_event(client, settings):
    register(client, "ada@example.com")
    wrong = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": "wrong-password"})
    unknown = client.post("/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    not_an_email = client.post("/api/v1/auth/login", json={"email": "nobody", "password": PASSWORD})
    assert not_an_email.json() == wrong.json()
    assert event_counts(settings)["user.login_failed"] == 3


def test_me_refuses_missing_tampered_and_foreign_tokens(client, settings):
    headers = sign_up(client, "ada@example.com")
    token = headers["Authorization"].removeprefix("Bearer ")
    assert client.get("/api/v1/me").status_code == 401
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    forged = jwt.encode(
        {"sub": "x", "typ": "access", "aud": "aiadmin"}, "another-secret-key-of-32-chars!!", "HS256"
    )
    unsigned = jwt.encode(jwt.decode(token, options={"verify_signature": False}), key=None, algorithm="none")
    for bad in (tampered, forged, unsigned, "garbage"):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
        assert response.json()["error"]["code"] == "not_authenticated"


def test_a_blocked_account_cannot_log_in_nor_use_a_token_it_already_has(client, settings):
    headers = sign_up(client, "ada@example.com")
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(Account.__table__.update().values(is_blocked=True))
    engine.dispose()
    assert client.get("/api/v1/me", headers=headers).json()["error"]["code"] == "account_blocked"
    response = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_blocked"


def test_login_records_country_from_the_trusted_proxy_header_and_the_client_app(client, settings):
    register(client, "ada@example.com")
    login_response = client.post(
        "/api/v1/auth/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-Country": "fr", "X-Client": "Telegram"},
    )
    assert login_response.status_code == 200
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        event = conn.execute(select(UsageEvent).where(UsageEvent.type == "user.login_succeeded")).one()
    engine.dispose()
    assert event.client == "telegram"
    assert event.country == "FR"  # no country in the profile: the proxy header's


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
