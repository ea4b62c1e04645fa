"""Every route declares its permission, and the role → permission table holds for every route and role."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from aiadmin import permissions_doc
from aiadmin.permissions_doc import declared_permissions
from api.accounts.models import ROLES
from api.auth.deps import PUBLIC
from api.auth.permissions import ROLE_PERMISSIONS, Permission, allowed
from api.core.types import utcnow
from api.main import create_app
from tests.support.api import bearer, sign_up, staff_headers

DOC = Path(__file__).resolve().parents[3] / "docs" / "permissions.md"
# Called last: they end the caller's session.
SESSION_ENDING = {"/api/v1/auth/logout", "/api/v1/auth/logout-all"}


def api_routes():
    return permissions_doc.api_routes(create_app().routes)


def calls():
    """(method, path, permission) of every route, the session-ending ones last."""
    rows = []
    for route in api_routes():
        (permission,) = declared_permissions(route.dependant)
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            rows.append((method, path, permission))
    return sorted(rows, key=lambda row: row[1] in SESSION_ENDING)


def test_every_route_declares_exactly_one_permission_of_the_table():
    for route in api_routes():
        declared = declared_permissions(route.dependant)
        assert len(declared) == 1, (
            f"{sorted(route.methods)} {route.path} declares {declared or 'no permission'}"
        )
        (permission,) = declared
        assert permission == PUBLIC or permission in set(Permission), route.path


def test_docs_permissions_md_is_what_the_code_renders():
    assert DOC.read_text() == permissions_doc.render(), "docs/permissions.md is stale: run `make docs`"


def _fresh_session(settings, email: str) -> dict[str, str]:
    """A new session for the account, minted straight in the database (as a login would make one)."""
    from datetime import timedelta

    from sqlalchemy import select

    from api.accounts.models import Account
    from api.auth.credentials import issue_access_token
    from api.auth.models import AuthSession
    from api.core.db import make_sync_engine

    now = utcnow()
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        account_id = conn.scalar(select(Account.id).where(Account.email == email))
        session_id = uuid.uuid4()
        conn.execute(
            AuthSession.__table__.insert().values(
                id=session_id,
                account_id=account_id,
                created_at=now,
                last_used_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
    engine.dispose()
    return bearer(issue_access_token(settings, account_id, session_id, now=now).token)


@pytest.fixture
def role_headers(client, settings) -> dict[str, dict[str, str]]:
    headers = {role: staff_headers(client, settings, role) for role in ROLES if role != "user"}
    headers["user"] = sign_up(client, "user@example.com")
    return headers


def test_every_route_called_as_every_role_and_anonymously_follows_the_matrix(client, settings, role_headers):
    mismatches = []
    for method, path, permission in calls():
        anonymous = client.request(method, path, json={}).status_code
        expected_anonymous = "not 401/403" if permission == PUBLIC else 401
        if (anonymous in (401, 403)) if permission == PUBLIC else anonymous != 401:
            mismatches.append(f"anonymous {method} {path}: {anonymous}, expected {expected_anonymous}")
        for role, headers in role_headers.items():
            if path in SESSION_ENDING:
                headers = _fresh_session(
                    settings, "user@example.com" if role == "user" else f"{role}@example.com"
                )
            status = client.request(method, path, headers=headers, json={}).status_code
            if permission == PUBLIC or allowed(role, permission):
                if status in (401, 403):
                    mismatches.append(f"{role} {method} {path}: {status}, expected allowed")
            elif status != 403:
                mismatches.append(f"{role} {method} {path}: {status}, expected 403")
    assert mismatches == []


def test_a_demotion_takes_effect_for_a_token_already_issued(client, settings, role_headers):
    from sqlalchemy import update

    from api.accounts.models import Account
    from api.core.db import make_sync_engine

    headers = role_headers["analyst"]
    assert client.get("/v1/models", headers=headers).status_code == 200
    engine = make_sync_engine(settings)
    with engine.begin() as conn:
        conn.execute(update(Account).where(Account.email == "analyst@example.com").values(role="viewer"))
    engine.dispose()
    assert client.get("/v1/models", headers=headers).status_code == 403


def test_me_tells_each_role_its_permissions(client, role_headers):
    for role, headers in role_headers.items():
        assert client.get("/api/v1/me", headers=headers).json()["permissions"] == sorted(
            ROLE_PERMISSIONS[role]
        )
