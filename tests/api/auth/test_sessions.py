"""Access and refresh tokens: rotation, reuse detection, logout, expiry, tampering."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from api.accounts.models import Account
from api.auth.models import AuthSession
from api.core.db import make_sync_engine
from api.core.types import utcnow
from tests.support.api import bearer, db_execute, event_counts, sign_up, tokens


def _refresh(client, refresh_token: str):
    return client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def test_a_refresh_token_is_exchanged_once_for_a_new_pair(client):
    sign_up(client, "ada@example.com")
    first = tokens(client, "ada@example.com")
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 200
    third = _refresh(client, pair["refresh_token"])
    assert third.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family_and_is_logged(client, settings):
    sign_up(client, "ada@example.com")
    stolen = tokens(client, "ada@example.com")
    legit = _refresh(client, stolen["refresh_token"]).json()  # the owner rotates; the thief keeps the old one

    reuse = _refresh(client, stolen["refresh_token"])
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "refresh_token_reused"
    # Every token of the family is dead now: the newest refresh token and its access token too.
    assert _refresh(client, legit["refresh_token"]).json()["error"]["code"] == "invalid_refresh_token"
    assert client.get("/api/v1/me", headers=bearer(legit["access_token"])).status_code == 401
    assert event_counts(settings)["security.refresh_reused"] == 1


def test_reuse_revokes_only_that_session_not_the_other_logins(client):
    sign_up(client, "ada@example.com")
    laptop = tokens(client, "ada@example.com")
    phone = tokens(client, "ada@example.com")
    _refresh(client, laptop["refresh_token"])
    _refresh(client, laptop["refresh_token"])  # reuse on the laptop's family
    assert client.get("/api/v1/me", headers=bearer(phone["access_token"])).status_code == 200
    assert _refresh(client, phone["refresh_token"]).status_code == 200


@pytest.mark.both_databases  # concurrent rotation of one refresh token
def test_two_simultaneous_refreshes_with_one_token_let_at_most_one_through(live_server, settings):
    with httpx.Client(base_url=live_server.url) as http:
        sign_up(http, "ada@example.com", settings)
        refresh_token = tokens(http, "ada@example.com")["refresh_token"]

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=live_server.url) as http:
            answers = await asyncio.gather(
                *(http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token}) for _ in range(5))
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(race())
    assert statuses.count(200) <= 1 and statuses.count(401) >= 4


def test_logout_ends_this_session_only_and_logout_all_ends_every_one(client, settings):
    sign_up(client, "ada@example.com")
    one, two, three = (tokens(client, "ada@example.com") for _ in range(3))
    assert client.post("/api/v1/auth/logout", headers=bearer(one["access_token"])).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(one["access_token"])).status_code == 401
    assert _refresh(client, one["refresh_token"]).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(two["access_token"])).status_code == 200

    assert client.post("/api/v1/auth/logout-all", headers=bearer(two["access_token"])).status_code == 204
    for pair in (two, three):
        assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 401
        assert _refresh(client, pair["refresh_token"]).status_code == 401
    counts = event_counts(settings)
    assert counts["user.logged_out"] == 1 and counts["user.logged_out_everywhere"] == 1


def test_an_expired_session_cannot_be_refreshed(client, settings):
    sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    db_execute(settings, update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = _refresh(client, pair["refresh_token"])
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_refresh_token"


def test_an_access_token_works_until_its_lifetime_ends_then_a_refresh_renews_it(client, settings, clock):
    sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    lifetime = timedelta(minutes=settings.access_token_minutes)
    assert pair["expires_in"] == lifetime.total_seconds()
    clock.advance(lifetime - timedelta(seconds=1))
    assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 200
    clock.advance(seconds=1)
    expired = client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "not_authenticated"
    renewed = _refresh(client, pair["refresh_token"])
    assert renewed.status_code == 200
    assert client.get("/api/v1/me", headers=bearer(renewed.json()["access_token"])).status_code == 200


def test_a_session_cannot_be_refreshed_once_its_lifetime_has_passed(client, settings, clock):
    sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    clock.advance(days=settings.refresh_token_days, seconds=1)
    response = _refresh(client, pair["refresh_token"])
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_refresh_token"


def test_a_blocked_account_cannot_refresh(client, settings):
    sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    db_execute(settings, update(Account).values(is_blocked=True))
    response = _refresh(client, pair["refresh_token"])
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_blocked"


def test_unknown_or_garbage_refresh_tokens_are_a_401(client):
    for token in ("rt_doesnotexist", "x"):
        response = _refresh(client, token)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_refresh_token"
    assert _refresh(client, "").status_code == 422


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 forgery below
def test_expired_tampered_alg_none_wrongly_typed_and_foreign_access_tokens_are_refused(client, settings):
    sign_up(client, "ada@example.com")
    good = tokens(client, "ada@example.com")["access_token"]
    claims = jwt.decode(good, options={"verify_signature": False})
    secret = settings.secret_key.get_secret_value()
    now = int(utcnow().timestamp())
    expired = jwt.encode({**claims, "iat": now - 3600, "exp": now - 60}, secret, "HS256")
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    alg_none = jwt.encode(claims, key=None, algorithm="none")
    wrong_type = jwt.encode({**claims, "typ": "refresh"}, secret, "HS256")
    wrong_audience = jwt.encode({**claims, "aud": "another-service"}, secret, "HS256")
    # A complete, valid claim set for this very account, signed with another key.
    foreign = jwt.encode(claims, "another-secret-key-of-at-least-32-characters", "HS256")
    hs512 = jwt.encode(claims, secret, "HS512")
    unknown_session = jwt.encode({**claims, "sid": str(uuid.uuid4())}, secret, "HS256")

    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 200
    for bad in (
        expired,
        tampered,
        alg_none,
        wrong_type,
        wrong_audience,
        foreign,
        hs512,
        unknown_session,
        "garbage",
    ):
        response = client.get("/api/v1/me", headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_my_sessions_lists_logins_and_marks_the_current_one(client, settings):
    sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    sessions = client.get("/api/v1/me/sessions", headers=bearer(pair["access_token"])).json()
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        stored = conn.scalars(select(AuthSession.id)).all()
    engine.dispose()
    assert {s["id"] for s in sessions} == {str(i) for i in stored}


def test_one_other_session_or_all_the_others_can_be_signed_out_and_never_someone_elses(client, settings):
    sign_up(client, "ada@example.com")
    here, phone, laptop = (tokens(client, "ada@example.com") for _ in range(3))
    me = bearer(here["access_token"])
    listed = client.get("/api/v1/me/sessions", headers=me).json()
    (phone_id,) = [
        s["id"]
        for s in listed
        if s["id"] == jwt.decode(phone["access_token"], options={"verify_signature": False})["sid"]
    ]
    assert client.delete(f"/api/v1/me/sessions/{phone_id}", headers=me).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(phone["access_token"])).status_code == 401
    assert _refresh(client, phone["refresh_token"]).status_code == 401
    again = client.delete(f"/api/v1/me/sessions/{phone_id}", headers=me)  # ended already: not found
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"

    sign_up(client, "eve@example.com")
    eve = bearer(tokens(client, "eve@example.com")["access_token"])
    laptop_id = jwt.decode(laptop["access_token"], options={"verify_signature": False})["sid"]
    assert client.delete(f"/api/v1/me/sessions/{laptop_id}", headers=eve).status_code == 404  # not hers
    assert client.delete("/api/v1/me/sessions/not-a-uuid", headers=eve).status_code == 422
    assert client.get("/api/v1/me", headers=bearer(laptop["access_token"])).status_code == 200

    ended = client.post("/api/v1/auth/logout-others", headers=me)
    assert ended.status_code == 200 and ended.json() == {"ended": 2}  # the laptop and sign_up's own
    assert client.get("/api/v1/me", headers=bearer(laptop["access_token"])).status_code == 401
    assert client.get("/api/v1/me", headers=me).status_code == 200  # this one goes on
    counts = event_counts(settings)
    assert counts["user.logged_out"] == 1 and counts["user.logged_out_everywhere"] == 1
