"""`/api/v1/admin/users`: search, profiles, and the actions staff take, each audited."""

from __future__ import annotations

import importlib
import json
import re
from decimal import Decimal

import pytest

from aiadmin import permissions_doc
from api.main import create_app
from tests.support.api import PASSWORD, bearer, completion_body, events_of, sign_up, staff_headers
from tests.support.api import login as login_token

USERS = "/api/v1/admin/users"


def _audit(client, headers, account_id):
    response = client.get(f"{USERS}/{account_id}/history", headers=headers)
    assert response.status_code == 200
    return response.json()


def _id(client, headers, email):
    page = client.get(USERS, params={"q": email}, headers=headers).json()
    assert page["total"] == 1, page
    return page["items"][0]["id"]


@pytest.mark.both_databases  # LIKE, NULLS LAST and date bounds differ between the two
def test_search_filter_sort_and_paginate_with_a_total(client, settings):
    for n, country in enumerate(("DE", "FR", "DE", "US", "DE")):
        sign_up(client, f"person{n}@example.com", country=country)
    admin = staff_headers(client, settings, "admin")

    page = client.get(
        USERS, params={"role": "user", "sort": "email", "order": "asc", "limit": 2}, headers=admin
    )
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 5 and [i["email"] for i in body["items"]] == [
        "person0@example.com",
        "person1@example.com",
    ]
    second = client.get(
        USERS,
        params={"role": "user", "sort": "email", "order": "asc", "limit": 2, "offset": 2},
        headers=admin,
    ).json()
    assert [i["email"] for i in second["items"]] == ["person2@example.com", "person3@example.com"]
    germans = client.get(USERS, params={"country": "de", "role": "user"}, headers=admin).json()
    assert germans["total"] == 3
    by_id = germans["items"][0]["id"]
    assert client.get(USERS, params={"q": by_id}, headers=admin).json()["total"] == 1
    assert client.get(USERS, params={"q": "PERSON4@"}, headers=admin).json()["total"] == 1
    assert client.get(USERS, params={"q": "%"}, headers=admin).json()["total"] == 0  # no wildcard injection
    assert client.get(USERS, params={"sort": "password_hash"}, headers=admin).status_code == 422
    assert client.get(USERS, params={"balance_min": "-1"}, headers=admin).status_code == 422


@pytest.mark.both_databases  # aggregates with FILTER, ordering of ties
def test_profile_shows_usage_favourite_models_and_recent_activity(client, settings):
    ada = sign_up(client, "ada@example.com")
    for _ in range(2):
        assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    analyst = staff_headers(client, settings, "analyst")
    account_id = _id(client, analyst, "ada@example.com")
    profile = client.get(f"{USERS}/{account_id}", headers=analyst).json()
    assert profile["account"]["email"] == "ada@example.com"
    stats = profile["stats"]
    assert stats["completions"] == 2 and stats["input_tokens"] > 0 and stats["output_tokens"] > 0
    assert stats["top_models"] == [{"id": "mock-small", "calls": 2}]
    assert sum(day["events"] for day in stats["activity_30_days"]) >= 3  # registered, logged in, 2 calls
    assert client.get(f"{USERS}/00000000-0000-0000-0000-000000000000", headers=analyst).status_code == 404


def test_block_with_a_reason_ends_access_at_once_and_after_the_unblock_the_user_signs_in_again_both_audited(
    client, settings
):
    ada = sign_up(client, "ada@example.com")
    moderator = staff_headers(client, settings, "moderator")
    account_id = _id(client, moderator, "ada@example.com")

    assert (
        client.post(f"{USERS}/{account_id}/block", json={"reason": "x"}, headers=moderator).status_code == 422
    )
    blocked = client.post(
        f"{USERS}/{account_id}/block",
        json={"reason": "spam"},
        headers={**moderator, "X-Request-ID": "req-42"},
    )
    assert blocked.status_code == 200 and blocked.json()["is_blocked"] is True
    assert blocked.headers["x-request-id"] == "req-42"
    refused = client.get("/api/v1/me", headers=ada)  # its session is revoked (see test_ending_access.py)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    login = client.post("/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert login.status_code == 403 and login.json()["error"]["code"] == "account_blocked"
    again = client.post(f"{USERS}/{account_id}/block", json={"reason": "spam"}, headers=moderator)
    assert again.status_code == 409 and again.json()["error"]["code"] == "no_change"

    assert (
        client.post(f"{USERS}/{account_id}/unblock", json={"reason": "appeal"}, headers=moderator).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=ada).status_code == 401  # an unblock revives no session
    ada = bearer(login_token(client, "ada@example.com"))
    assert client.get("/api/v1/me", headers=ada).status_code == 200

    history = _audit(client, moderator, account_id)
    assert [(h["action"], h["reason"], h["before"], h["after"]) for h in history] == [
        ("user.unblock", "appeal", {"is_blocked": True}, {"is_blocked": False}),
        ("user.block", "spam", {"is_blocked": False}, {"is_blocked": True}),
    ]
    assert history[1]["request_id"] == "req-42" and history[1]["actor_email"].startswith("moderator")
    assert history[1]["ip"]
    assert [
        (e.properties["reason"], e.properties["sessions_ended"], e.properties["api_keys_revoked"])
        for e in events_of(settings, "user.blocked")
    ] == [("spam", 1, 0)]
    admin = staff_headers(client, settings, "admin")  # the audit log itself, filtered
    blocks = client.get("/api/v1/admin/audit", params={"action": "user.block"}, headers=admin).json()
    assert [(b["target_id"], b["reason"]) for b in blocks] == [(account_id, "spam")]
    assert client.get("/api/v1/admin/audit", headers=ada).status_code == 403
    assert len(events_of(settings, "user.unblocked")) == 1


@pytest.mark.both_databases  # billing: numeric balance and ledger
def test_plan_change_applies_at_the_next_request_and_balance_adjustments_are_ledger_rows(client, settings):
    ada = sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    account_id = _id(client, admin, "ada@example.com")
    assert "mock-large" not in [m["id"] for m in client.get("/v1/models", headers=ada).json()["data"]]

    unknown = client.post(f"{USERS}/{account_id}/plan", json={"plan": "platinum"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_plan"
    assert client.post(f"{USERS}/{account_id}/plan", json={"plan": "pro"}, headers=admin).status_code == 200
    assert "mock-large" in [m["id"] for m in client.get("/v1/models", headers=ada).json()["data"]]
    assert events_of(settings, "plan.changed")[0].properties["to"] == "pro"

    added = client.post(
        f"{USERS}/{account_id}/balance", json={"amount": "12.5", "reason": "goodwill"}, headers=admin
    )
    assert added.status_code == 200 and Decimal(added.json()["balance"]) == Decimal("12.5")
    too_much = client.post(
        f"{USERS}/{account_id}/balance", json={"amount": "-20", "reason": "fix"}, headers=admin
    )
    assert too_much.status_code == 402 and too_much.json()["error"]["code"] == "insufficient_balance"
    taken = client.post(
        f"{USERS}/{account_id}/balance", json={"amount": "-2.5", "reason": "fix"}, headers=admin
    )
    assert Decimal(taken.json()["balance"]) == Decimal(10)
    ledger = client.get("/api/v1/me/balance", headers=ada).json()
    assert Decimal(ledger["balance"]) == Decimal(10)
    # Ada sees what happened in plain words, never which staff member did it or the internal reason.
    assert [(e["kind"], e["description"]) for e in ledger["entries"]] == [
        ("adjustment", "Credits taken back by support"),
        ("adjustment", "Credits added by support"),
    ]
    admin_id = client.get("/api/v1/me", headers=admin).json()["id"]
    assert admin_id not in json.dumps(ledger) and "goodwill" not in json.dumps(ledger)
    assert all("details" not in e for e in ledger["entries"])
    actions = [(h["action"], h["after"]) for h in _audit(client, admin, account_id)]
    assert actions == [
        ("user.balance_adjust", {"balance": "10.000000"}),
        ("user.balance_adjust", {"balance": "12.500000"}),
        ("user.plan_change", {"plan": "pro"}),
    ]
    assert [e.credits for e in events_of(settings, "balance.adjusted")] == [Decimal("12.5"), Decimal("-2.5")]


def test_refusals_read_only_staff_staff_targets_and_oneself(client, settings):
    sign_up(client, "ada@example.com")
    analyst = staff_headers(client, settings, "analyst")
    account_id = _id(client, analyst, "ada@example.com")
    no = client.post(f"{USERS}/{account_id}/block", json={"reason": "spam"}, headers=analyst)
    assert no.status_code == 403 and no.json()["error"]["code"] == "forbidden"

    moderator = staff_headers(client, settings, "moderator")
    analyst_id = _id(client, moderator, "analyst@example.com")
    moderator_id = _id(client, moderator, "moderator@example.com")
    staff_target = client.post(f"{USERS}/{analyst_id}/block", json={"reason": "test"}, headers=moderator)
    assert staff_target.json()["error"]["code"] == "staff_target_requires_admin"
    self_target = client.post(f"{USERS}/{moderator_id}/plan", json={"plan": "pro"}, headers=moderator)
    assert self_target.json()["error"]["code"] == "cannot_act_on_self"
    assert _audit(client, moderator, analyst_id) == []


# Every mutating admin route, and the test that proves it writes its audit row (module, test name prefix).
AUDITED = {
    ("PUT", "/api/v1/admin/guardrails/{scope}/{target}"): (
        "guardrails.test_guardrails",
        "test_a_policy_needs_an_existing_target",
    ),
    ("DELETE", "/api/v1/admin/guardrails/{scope}/{target}"): (
        "guardrails.test_guardrails",
        "test_a_policy_needs_an_existing_target",
    ),
    ("POST", "/api/v1/admin/moderation/flags/{flag_id}/dismiss"): (
        "guardrails.test_guardrails",
        "test_moderation_round_trip",
    ),
    ("POST", "/api/v1/admin/moderation/flags/{flag_id}/block"): (
        "guardrails.test_guardrails",
        "test_moderation_round_trip",
    ),
    ("POST", "/api/v1/admin/audit/downloads"): (
        "core.test_admin_exports",
        "test_a_table_the_panel_downloaded_is_recorded",
    ),
    ("POST", "/api/v1/admin/users/{account_id}/block"): (
        "users.test_admin_users",
        "test_block_with_a_reason",
    ),
    ("POST", "/api/v1/admin/users/{account_id}/unblock"): (
        "users.test_admin_users",
        "test_block_with_a_reason",
    ),
    ("POST", "/api/v1/admin/users/{account_id}/plan"): ("users.test_admin_users", "test_plan_change_applies"),
    ("POST", "/api/v1/admin/users/{account_id}/balance"): (
        "users.test_admin_users",
        "test_plan_change_applies",
    ),
    ("POST", "/api/v1/admin/users/{account_id}/impersonate"): (
        "users.test_admin_users",
        "test_an_admin_impersonates",
    ),
    ("PATCH", "/api/v1/admin/settings"): ("system.test_admin_settings", "test_settings_registration"),
    ("POST", "/api/v1/admin/plans"): ("system.test_admin_settings", "test_plans_create_update_delete"),
    ("PUT", "/api/v1/admin/plans/{code}"): ("system.test_admin_settings", "test_plans_create_update_delete"),
    ("DELETE", "/api/v1/admin/plans/{code}"): (
        "system.test_admin_settings",
        "test_plans_create_update_delete",
    ),
    ("POST", "/api/v1/admin/providers"): (
        "catalogue.test_admin_providers",
        "test_add_rotate_test_and_disable",
    ),
    ("PUT", "/api/v1/admin/providers/{provider_id}"): (
        "catalogue.test_admin_providers",
        "test_add_rotate_test_and_disable",
    ),
    ("POST", "/api/v1/admin/providers/{provider_id}/rotate-key"): (
        "catalogue.test_admin_providers",
        "test_add_rotate",
    ),
    ("POST", "/api/v1/admin/providers/{provider_id}/test"): (
        "catalogue.test_admin_providers",
        "test_add_rotate",
    ),
    ("POST", "/api/v1/admin/models"): ("catalogue.test_admin_models", "test_create_rename_reprice"),
    ("PUT", "/api/v1/admin/models/{model_id}"): ("catalogue.test_admin_models", "test_create_rename_reprice"),
    ("POST", "/api/v1/admin/models/order"): ("catalogue.test_admin_models", "test_create_rename_reprice"),
    ("DELETE", "/api/v1/admin/models/{model_id}"): (
        "catalogue.test_admin_models",
        "test_create_rename_reprice",
    ),
    ("POST", "/api/v1/admin/playground"): ("catalogue.test_playground", "test_an_unsaved_prompt_reaches"),
    ("DELETE", "/api/v1/admin/cache"): ("gateway.test_response_cache", "test_clearing_by_model_removes"),
    ("PUT", "/api/v1/admin/cache/settings"): ("gateway.test_response_cache", "test_what_a_hit_takes"),
    ("PUT", "/api/v1/admin/cache/rules/{scope}/{target}"): (
        "gateway.test_response_cache",
        "test_turning_a_rule_on_changing_it_and_off_is_audited",
    ),
    ("DELETE", "/api/v1/admin/cache/rules/{scope}/{target}"): (
        "gateway.test_response_cache",
        "test_turning_a_rule_on_changing_it_and_off_is_audited",
    ),
    ("PUT", "/api/v1/admin/model-aliases/{alias}"): (
        "gateway.test_model_aliases",
        "test_the_client_names_the_alias_and_the_provider_gets_its_model_which_staff_repoint",
    ),
    ("DELETE", "/api/v1/admin/model-aliases/{alias}"): (
        "gateway.test_model_aliases",
        "test_an_alias_experiment_gives_each_user_a_sticky_model_and_its_winner_repoints_the_alias",
    ),
    ("POST", "/api/v1/admin/experiments"): (
        "gateway.test_experiments",
        "test_transitions_conflicts_winner_and_audit",
    ),
    ("POST", "/api/v1/admin/experiments/{experiment_id}/start"): (
        "gateway.test_experiments",
        "test_transitions_conflicts_winner_and_audit",
    ),
    ("POST", "/api/v1/admin/experiments/{experiment_id}/pause"): (
        "gateway.test_experiments",
        "test_transitions_conflicts_winner_and_audit",
    ),
    ("POST", "/api/v1/admin/experiments/{experiment_id}/stop"): (
        "gateway.test_experiments",
        "test_transitions_conflicts_winner_and_audit",
    ),
    ("POST", "/api/v1/admin/experiments/{experiment_id}/winner"): (
        "gateway.test_experiments",
        "test_transitions_conflicts_winner_and_audit",
    ),
    ("POST", "/api/v1/admin/roles"): ("catalogue.test_admin_roles", "test_versions_diff_rollback"),
    ("PUT", "/api/v1/admin/roles/{role_id}"): ("catalogue.test_admin_roles", "test_versions_diff_rollback"),
    ("POST", "/api/v1/admin/roles/{role_id}/rollback"): (
        "catalogue.test_admin_roles",
        "test_versions_diff_rollback",
    ),
    ("DELETE", "/api/v1/admin/roles/{role_id}"): (
        "catalogue.test_admin_roles",
        "test_versions_diff_rollback",
    ),
    ("POST", "/api/v1/admin/alerts/rules"): (
        "alerts.test_admin_alerts",
        "test_an_admin_creates_edits_and_deletes",
    ),
    ("PATCH", "/api/v1/admin/alerts/rules/{rule_id}"): (
        "alerts.test_admin_alerts",
        "test_an_admin_creates_edits_and_deletes",
    ),
    ("DELETE", "/api/v1/admin/alerts/rules/{rule_id}"): (
        "alerts.test_admin_alerts",
        "test_an_admin_creates_edits_and_deletes",
    ),
    ("POST", "/api/v1/admin/users/bulk"): (
        "users.test_bulk_actions",
        "test_bulk_block_is_all_or_nothing",
    ),
    ("POST", "/api/v1/admin/alerts/evaluate"): (
        "alerts.test_admin_alerts",
        "test_error_rate_rule_fires_once",
    ),
    ("POST", "/api/v1/admin/notifications/broadcasts"): (
        "notifications.test_notifications",
        "test_a_broadcast_reaches",
    ),
    ("PUT", "/api/v1/admin/notifications/rules/{code}"): (
        "notifications.test_notifications",
        "test_the_welcome_rule",
    ),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_mutating_admin_route_is_proven_to_write_the_audit_log(database_url):
    mutating = {
        (method, route.path)
        for route in permissions_doc.api_routes(create_app().routes)
        if route.path.startswith("/api/v1/admin/")
        for method in route.methods - {"GET", "HEAD", "OPTIONS"}
    }
    assert mutating == set(AUDITED), "a mutating admin route needs a test that checks its audit row"
    for module, test_name in AUDITED.values():
        tests = vars(importlib.import_module(f"tests.api.{module}"))
        assert any(re.match(test_name, name) for name in tests), (module, test_name)


def test_a_moderator_reads_a_users_transcript_and_each_read_is_audited(client, settings):
    ada = sign_up(client, "ada@example.com")
    chat_id = "5b0b5e36-7a43-4a2f-9d0e-3f1e2d1c0b9a"
    body = {**completion_body(content="my secret plan"), "metadata": {"chat_id": chat_id}}
    assert client.post("/v1/chat/completions", headers=ada, json=body).status_code == 200
    moderator = staff_headers(client, settings, "moderator")
    account_id = _id(client, moderator, "ada@example.com")

    listed = client.get(f"{USERS}/{account_id}/chats", headers=moderator).json()
    assert [c["id"] for c in listed] == [chat_id]
    url = f"{USERS}/{account_id}/chats/{chat_id}"
    transcript = client.get(url, params={"reason": "abuse report 17"}, headers=moderator)
    assert transcript.status_code == 200
    assert transcript.json()["messages"][0]["content"] == "my secret plan"
    client.get(url, headers=moderator)
    reads = client.get(
        "/api/v1/admin/audit",
        params={"action": "conversation.read"},
        headers=staff_headers(client, settings, "admin"),
    ).json()
    assert [(r["target_id"], r["reason"], r["actor_email"]) for r in reads] == [
        (chat_id, None, "moderator@example.com"),
        (chat_id, "abuse report 17", "moderator@example.com"),
    ]
    analyst = staff_headers(client, settings, "analyst")  # no conversations:read
    assert client.get(url, headers=analyst).status_code == 403
    other = f"{USERS}/{_id(client, moderator, 'analyst@example.com')}/chats/{chat_id}"
    assert client.get(other, headers=moderator).status_code == 404  # the chat is not that user's


def test_an_admin_impersonates_read_only_and_every_request_is_audited_in_the_admins_name(client, settings):
    sign_up(client, "ada@example.com")
    admin = staff_headers(client, settings, "admin")
    account_id = _id(client, admin, "ada@example.com")
    moderator = staff_headers(client, settings, "moderator")  # no users:impersonate
    denied = client.post(f"{USERS}/{account_id}/impersonate", json={"reason": "support"}, headers=moderator)
    assert denied.status_code == 403

    granted = client.post(f"{USERS}/{account_id}/impersonate", json={"reason": "ticket 9"}, headers=admin)
    assert granted.status_code == 200
    body = granted.json()
    assert body["expires_in"] <= 15 * 60 and body["read_only"] is True and "refresh_token" not in body
    as_ada = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/me", headers=as_ada).json()["email"] == "ada@example.com"
    assert client.get("/api/v1/me/usage", headers=as_ada).status_code == 200
    write = client.post("/api/v1/me/api-keys", json={"name": "sneaky"}, headers=as_ada)
    assert write.status_code == 403 and write.json()["error"]["code"] == "impersonation_read_only"

    admin_id = _id(client, admin, "admin@example.com")
    trail = client.get("/api/v1/admin/audit", params={"target_id": account_id}, headers=admin).json()
    assert [(t["action"], t["actor_id"], t["after"].get("path")) for t in trail] == [
        ("impersonation.request", admin_id, "/api/v1/me/usage"),
        ("impersonation.request", admin_id, "/api/v1/me"),
        ("user.impersonate", admin_id, None),
    ]
    staff_target = client.post(
        f"{USERS}/{_id(client, admin, 'moderator@example.com')}/impersonate",
        json={"reason": "just checking"},
        headers=admin,
    )
    assert staff_target.json()["error"]["code"] == "cannot_impersonate_staff"
