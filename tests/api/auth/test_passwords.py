"""Forgot, reset and change password."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from api.auth.models import OneTimeToken
from api.core.db import make_sync_engine
from api.core.types import utcnow
from tests.support.api import PASSWORD, bearer, delivered, event_counts, link_token, mails, sign_up, tokens

NEW_PASSWORD = "a brand new passphrase"


def _forgot(client, email: str):
    return client.post("/api/v1/auth/forgot-password", json={"email": email})


def test_forgot_password_answers_the_same_whether_or_not_the_email_exists(client, settings):
    sign_up(client, "ada@example.com")
    known, unknown = _forgot(client, "ada@example.com"), _forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    (mail,) = mails(settings, "ada@example.com", "reset_password")
    (sent,) = delivered("ada@example.com", mail.subject)
    assert f"{settings.app_url}/reset-password?token=" in sent.body
    assert mails(settings, "nobody@example.com") == []


def test_a_reset_sets_the_password_ends_every_session_and_the_link_works_once(client, settings):
    sign_up(client, "ada@example.com")
    session = tokens(client, "ada@example.com")
    _forgot(client, "ada@example.com")
    token = link_token(settings, "ada@example.com", "reset_password")

    reset = client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert reset.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(session["access_token"])).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refresh.status_code == 401
    assert (
        client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}).status_code
        == 401
    )
    assert tokens(client, "ada@example.com", NEW_PASSWORD)["access_token"]

    again = client.post(
        "/api/v1/auth/reset-password", json={"token": token, "new_password": "yet another passphrase"}
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_token"
    assert event_counts(settings)["security.password_reset"] == 1


def test_an_expired_reset_link_or_a_common_new_password_is_refused(client, settings):
    sign_up(client, "ada@example.com")
    _forgot(client, "ada@example.com")
    token = link_token(settings, "ada@example.com", "reset_password")
    common = client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": "password123"})
    assert common.status_code == 422 and common.json()["error"]["code"] == "password_too_common"

    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(update(OneTimeToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    engine.dispose()
    expired = client.post("/api/v1/auth/reset-password", json={"token": token, "new_password": NEW_PASSWORD})
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalid_token"
    assert tokens(client, "ada@example.com")["access_token"]  # the old password still works


def test_change_password_needs_the_current_one_and_ends_the_other_sessions(client, settings):
    sign_up(client, "ada@example.com")
    here, elsewhere = tokens(client, "ada@example.com"), tokens(client, "ada@example.com")
    wrong = client.post(
        "/api/v1/auth/change-password",
        headers=bearer(here["access_token"]),
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_current_password"

    changed = client.post(
        "/api/v1/auth/change-password",
        headers=bearer(here["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(here["access_token"])).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(elsewhere["access_token"])).status_code == 401
    assert tokens(client, "ada@example.com", NEW_PASSWORD)["access_token"]
    history = client.get("/api/v1/me/security-events", headers=bearer(here["access_token"])).json()
    outcomes = [e["outcome"] for e in history if e["kind"] == "security.password_changed"]
    assert outcomes == ["success", "failure"]
