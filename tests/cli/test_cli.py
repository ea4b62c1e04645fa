from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from aiadmin.cli import main
from api.main import create_app
from tests.support.api import PASSWORD, event_counts, events_of


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_migrate_then_create_admin_gives_a_staff_account_that_can_log_in(env_settings, tmp_path, capsys):
    assert main(["migrate"]) == 0
    assert main(["create-admin", "--email", "Boss@Example.com", "--password", PASSWORD]) == 0
    assert "boss@example.com is admin" in capsys.readouterr().out
    with TestClient(create_app(env_settings)) as client:
        token = client.post("/api/v1/auth/login", json={"email": "boss@example.com", "password": PASSWORD})
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["role"] == "admin"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_create_admin_refuses_a_short_password_and_writes_nothing(env_settings, capsys):
    assert main(["create-admin", "--email", "boss@example.com", "--password", "short"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert event_counts(env_settings) == {}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_data_only_fills_an_empty_database(env_settings, capsys):
    assert main(["demo-data", "--users", "12", "--days", "3", "--if-empty"]) == 0
    first = event_counts(env_settings)
    assert first["user.registered"] == 13  # the demo admin and twelve users
    assert first["llm.call_succeeded"] > 0
    # Some demo users pay: they topped up and their paid-model calls were charged.
    assert first["balance.topped_up"] > 0 and first["balance.charged"] > 0
    assert main(["demo-data", "--if-empty"]) == 0
    assert "left as it is" in capsys.readouterr().out
    assert event_counts(env_settings) == first
    # Nothing happens later than now (analytics would show activity from the future).
    latest = max(e.occurred_at for t in first for e in events_of(env_settings, t))
    assert latest <= datetime.now(UTC)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_demo_logins_that_make_run_prints_really_log_in(env_settings):
    from aiadmin.demo import DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_USER_EMAIL, DEMO_USER_PASSWORD

    assert main(["demo-data", "--users", "1", "--days", "1"]) == 0
    with TestClient(create_app(env_settings)) as client:
        for email, password, role in (
            (DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, "admin"),
            (DEMO_USER_EMAIL.format(n=1), DEMO_USER_PASSWORD, "user"),
        ):
            token = client.post("/api/v1/auth/login", json={"email": email, "password": password})
            assert token.status_code == 200, token.text
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
            assert me.json()["role"] == role


def test_set_role_and_reset_2fa_act_on_an_existing_account(env_settings, capsys):
    from tests.support.api import bearer, enrol_two_factor, sign_up, tokens

    with TestClient(create_app(env_settings)) as client:
        headers = sign_up(client, "ada@example.com")
        enrol_two_factor(client, headers)

        assert main(["set-role", "ada@example.com", "analyst"]) == 0
        assert client.get("/api/v1/me", headers=headers).json()["role"] == "analyst"
        assert main(["reset-2fa", "ADA@example.com"]) == 0
        assert "removed from ada@example.com" in capsys.readouterr().out
        assert tokens(client, "ada@example.com")["access_token"]  # no code asked any more
        assert (
            client.get(
                "/api/v1/me", headers=bearer(tokens(client, "ada@example.com")["access_token"])
            ).json()["two_factor_enabled"]
            is False
        )
    counts = event_counts(env_settings)
    assert counts["user.role_changed"] == 1 and counts["security.two_factor_reset"] == 1


def test_operator_commands_refuse_unknown_accounts_roles_and_existing_emails(env_settings, capsys):
    assert main(["set-role", "nobody@example.com", "admin"]) == 2
    assert main(["reset-2fa", "nobody@example.com"]) == 2
    assert main(["create-admin", "--email", "boss@example.com", "--password", PASSWORD]) == 0
    assert main(["create-admin", "--email", "boss@example.com", "--password", PASSWORD]) == 2
    assert main(["create-admin", "--email", "boss2@example.com", "--password", "password123"]) == 2
    err = capsys.readouterr().err
    assert "no account with the email nobody@example.com" in err
    assert "aiadmin set-role boss@example.com admin" in err
    assert "too common" in err
