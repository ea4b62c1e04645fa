"""What ends an account's access from outside its own sign-out: a block (for good: an unblock revives no
credential), a password reset (its API keys too), and the end of the admin behind an impersonation.

`/v1/*` reads the caller through the gateway's fast lane on PostgreSQL, so the tests that call it run on
both databases."""

from __future__ import annotations

import asyncio

import pyotp
import pytest
from sqlalchemy import select, update

from api.accounts.models import Account
from api.core.crypto import Encryptor
from api.core.db import Database
from api.core.types import utcnow
from tests.support.api import (
    bearer,
    completion_body,
    db_execute,
    db_scalar,
    link_token,
    sign_up,
    staff_headers,
    tokens,
)

USERS = "/api/v1/admin/users"


def _id(client, staff, email: str) -> str:
    page = client.get(USERS, params={"q": email}, headers=staff).json()
    assert page["total"] == 1, page
    return page["items"][0]["id"]


def _api_key(client, headers) -> str:
    response = client.post("/api/v1/me/api-keys", headers=headers, json={"name": "bot"})
    assert response.status_code == 201, response.text
    return response.json()["key"]


def _refused(client, *, access: str, refresh: str, key: str) -> None:
    """The old access token (on the API and on /v1/*), refresh token and API key all answer 401."""
    answers = {
        "access": client.get("/api/v1/me", headers=bearer(access)),
        "access on /v1": client.post("/v1/chat/completions", headers=bearer(access), json=completion_body()),
        "refresh": client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}),
        "key": client.post("/v1/chat/completions", headers=bearer(key), json=completion_body()),
        "key on /v1/models": client.get("/v1/models", headers=bearer(key)),
    }
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 401), {
        name: r.text for name, r in answers.items()
    }


@pytest.mark.both_databases  # /v1/* reads keys and sessions through the fast lane on PostgreSQL
def test_a_block_ends_sessions_refresh_tokens_and_api_keys_and_an_unblock_revives_none(client, settings):
    headers = sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    key = _api_key(client, headers)
    assert client.post("/v1/chat/completions", headers=bearer(key), json=completion_body()).status_code == 200
    moderator = staff_headers(client, settings, "moderator")
    account_id = _id(client, moderator, "ada@example.com")

    block = client.post(f"{USERS}/{account_id}/block", json={"reason": "stolen card"}, headers=moderator)
    assert block.status_code == 200
    _refused(client, access=pair["access_token"], refresh=pair["refresh_token"], key=key)

    unblock = client.post(f"{USERS}/{account_id}/unblock", json={"reason": "appeal"}, headers=moderator)
    assert unblock.status_code == 200
    _refused(client, access=pair["access_token"], refresh=pair["refresh_token"], key=key)
    # Signing in again works, and shows the key and the sessions the block ended.
    fresh = bearer(tokens(client, "ada@example.com")["access_token"])
    assert [k["revoked_at"] is not None for k in client.get("/api/v1/me/api-keys", headers=fresh).json()] == [
        True
    ]
    ended = [s for s in client.get("/api/v1/me/sessions", headers=fresh).json() if s["revoked_at"]]
    assert len(ended) == 2


@pytest.mark.both_databases  # /v1/* reads keys through the fast lane on PostgreSQL
def test_a_password_reset_ends_the_accounts_api_keys_as_well_as_its_sessions(client, settings):
    headers = sign_up(client, "ada@example.com")
    pair = tokens(client, "ada@example.com")
    key = _api_key(client, headers)
    client.post("/api/v1/auth/forgot-password", json={"email": "ada@example.com"})
    token = link_token(settings, "ada@example.com", "reset_password")
    reset = client.post(
        "/api/v1/auth/reset-password", json={"token": token, "new_password": "a brand new passphrase"}
    )
    assert reset.status_code == 204
    _refused(client, access=pair["access_token"], refresh=pair["refresh_token"], key=key)


def _impersonate(client, admin, account_id: str) -> dict[str, str]:
    granted = client.post(f"{USERS}/{account_id}/impersonate", json={"reason": "ticket 9"}, headers=admin)
    assert granted.status_code == 200, granted.text
    as_user = bearer(granted.json()["access_token"])
    assert client.get("/api/v1/me", headers=as_user).status_code == 200
    return as_user


ENDED = (401, "impersonation_ended")  # found ended by this request (which revokes it)
REVOKED = (401, "not_authenticated")  # revoked already
_REQUESTS = {
    "/api/v1/me": ("GET", None),
    "/v1/models": ("GET", None),
    "/v1/chat/completions": ("POST", completion_body()),
}


def _as(client, as_user, *paths: str) -> list[tuple[int, str]]:
    """Each request in turn with the impersonation token: (status, error code)."""
    answers = []
    for path in paths:
        method, body = _REQUESTS[path]
        response = client.request(method, path, headers=as_user, json=body)
        answers.append((response.status_code, response.json().get("error", {}).get("code")))
    return answers


def _another_admin_login(client, settings, clock, email: str) -> dict[str, str]:
    """A second session of an admin enrolled in TOTP (its code of the next time step: each works once)."""
    secret = db_scalar(settings, select(Account.totp_secret_encrypted).where(Account.email == email))
    code = pyotp.TOTP(Encryptor(settings).decrypt(secret)).at(clock.advance(seconds=30))
    return bearer(tokens(client, email, otp=code)["access_token"])


@pytest.mark.both_databases  # /v1/* reads the session through the fast lane on PostgreSQL
def test_an_impersonation_ends_with_the_admins_session_that_opened_it(client, settings, clock):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    as_ada = _impersonate(client, admin, _id(client, admin, "ada@example.com"))
    other_login = _another_admin_login(client, settings, clock, "admin@example.com")

    assert client.post("/api/v1/auth/logout", headers=admin).status_code == 204
    # /v1/* first: on PostgreSQL the fast lane finds the session, the check behind it ends it.
    answers = _as(client, as_ada, "/v1/chat/completions", "/v1/models", "/api/v1/me")
    assert answers == [ENDED, REVOKED, REVOKED]
    assert client.get("/api/v1/me", headers=other_login).status_code == 200


def test_an_impersonation_ends_when_the_admin_is_blocked_and_stays_ended_after_the_unblock(client, settings):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    as_ada = _impersonate(client, admin, _id(client, admin, "ada@example.com"))
    root = staff_headers(client, settings, "admin", email="root@example.com")
    admin_id = _id(client, root, "admin@example.com")

    block = client.post(f"{USERS}/{admin_id}/block", json={"reason": "rogue"}, headers=root)
    assert block.status_code == 200
    assert _as(client, as_ada, "/api/v1/me", "/v1/models") == [ENDED, REVOKED]
    unblock = client.post(f"{USERS}/{admin_id}/unblock", json={"reason": "cleared"}, headers=root)
    assert unblock.status_code == 200
    assert _as(client, as_ada, "/api/v1/me") == [REVOKED]


def _set_role(settings, email: str, role: str) -> None:
    """`aiadmin set-role`, as an operator runs it."""
    from api.users.service import set_role

    async def run() -> None:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                await set_role(session, email=email, role=role, at=utcnow())
        finally:
            await db.dispose()

    asyncio.run(run())


def test_an_impersonation_ends_when_the_admin_loses_the_permission_that_allowed_it(client, settings):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    ada_id = _id(client, admin, "ada@example.com")
    as_ada = _impersonate(client, admin, ada_id)

    _set_role(settings, "admin@example.com", "moderator")  # moderators may not impersonate
    assert client.get("/api/v1/me", headers=admin).status_code == 200  # the admin's own session goes on
    assert _as(client, as_ada, "/v1/models", "/api/v1/me") == [REVOKED, REVOKED]  # the demotion revoked it
    _set_role(settings, "admin@example.com", "admin")  # given back: the old impersonation stays ended
    assert _as(client, as_ada, "/api/v1/me") == [REVOKED]


def test_an_impersonation_of_an_admin_blocked_behind_the_apis_back_ends_too(client, settings):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    as_ada = _impersonate(client, admin, _id(client, admin, "ada@example.com"))

    db_execute(settings, update(Account).where(Account.email == "admin@example.com").values(is_blocked=True))
    assert _as(client, as_ada, "/api/v1/me", "/v1/models") == [ENDED, REVOKED]
    db_execute(settings, update(Account).where(Account.email == "admin@example.com").values(is_blocked=False))
    assert _as(client, as_ada, "/api/v1/me") == [REVOKED]


def test_an_impersonation_of_an_admin_demoted_behind_the_apis_back_ends_too(client, settings):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    as_ada = _impersonate(client, admin, _id(client, admin, "ada@example.com"))

    demote = update(Account).where(Account.email == "admin@example.com").values(role="moderator")
    db_execute(settings, demote)
    assert _as(client, as_ada, "/api/v1/me", "/v1/models") == [ENDED, REVOKED]
    db_execute(settings, update(Account).where(Account.email == "admin@example.com").values(role="admin"))
    assert _as(client, as_ada, "/api/v1/me") == [REVOKED]
