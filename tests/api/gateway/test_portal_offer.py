"""`GET /api/v1/plans` (public) and `GET /api/v1/me/roles`: what an end user may pick from, exactly what the
gateway accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, update

from api.accounts.models import Account, Plan
from api.catalogue.models import AssistantRole
from api.core.app_settings import AppSetting
from tests.support.api import bearer, db_execute, sign_up, staff_headers

PLANS = "/api/v1/plans"
ROLES = "/api/v1/me/roles"
PLAN_FIELDS = {
    "code", "name", "price_monthly", "currency", "price_credits", "daily_requests", "tokens_per_day",
    "tokens_per_month", "max_chats", "max_messages_per_chat", "models",
}  # fmt: skip


def _role(role_id: str, default_model: str | None, *, enabled: bool = True) -> dict:
    return {
        "id": role_id, "name": role_id.title(), "system_prompt": "Be brief.", "default_model": default_model,
        "default_params": {}, "enabled": enabled, "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }  # fmt: skip


def test_the_public_plans_are_listed_to_anyone_with_price_limits_and_models_and_cached(client, settings):
    db_execute(
        settings,
        update(Plan).where(Plan.code == "pro").values(price_monthly=Decimal("9.90")),
        insert(Plan).values(code="vip", name="Staff's friends", model_tiers="free,paid", public=False),
        update(AppSetting)  # a credit at 0.07: 9.90 / 0.07 = 141.4285714…, charged rounded up
        .where(AppSetting.key == "credit_rate")
        .values(value={"currency": "USD", "price_per_credit": "0.07", "usd_per_credit": "0.01"}),
    )
    response = client.get(PLANS)  # no credentials at all
    assert response.status_code == 200, response.text
    plans = response.json()
    assert [p["code"] for p in plans] == ["free", "pro"]  # the hidden plan is not there; unpriced first
    assert all(set(p) == PLAN_FIELDS for p in plans)  # no tiers, no public flag, nothing internal
    free, pro = plans
    assert free["price_monthly"] is None and pro["price_monthly"] == "9.90" and pro["currency"]
    assert free["price_credits"] is None and pro["price_credits"] == "141.428572"  # what POST /me/plan takes
    assert free["daily_requests"] == 3 and free["tokens_per_day"] == 20000
    assert [m["id"] for m in free["models"]] == ["mock-small"]
    assert [m["id"] for m in pro["models"]] == ["mock-small", "mock-large"]
    assert response.headers["cache-control"].startswith("public, max-age=")
    again = client.get(PLANS, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get(PLANS, headers={"If-None-Match": '"stale"'}).status_code == 200
    assert "/api/v1/plans" in client.get("/openapi.json").json()["paths"]


def test_every_role_listed_is_accepted_by_a_completion_and_an_unlisted_one_refused(client, settings):
    db_execute(
        settings,
        insert(AssistantRole).values(
            [_role("paid-writer", "mock-large"), _role("switched-off", "mock-small", enabled=False)]
        ),
    )
    db_execute(settings, update(Plan).where(Plan.code == "free").values(daily_requests=None))
    headers = sign_up(client, "roles@example.com")
    response = client.get(ROLES, headers=headers)
    assert response.status_code == 200, response.text
    roles = {r["id"]: r for r in response.json()}
    seeded = {"paraphrase", "fix-grammar", "shorten", "prompt-writer", "prompt-creative"}
    assert set(roles) == seeded | {"paid-writer"}
    assert set(next(iter(roles.values()))) == {"id", "name", "default_model", "models", "tool"}  # no prompt
    assert {r: roles[r]["tool"] for r in seeded | {"paid-writer"}} == {
        "paraphrase": "editor", "fix-grammar": "editor", "shorten": "editor",
        "prompt-writer": "prompts", "prompt-creative": "prompts", "paid-writer": None,
    }  # fmt: skip
    assert roles["paid-writer"]["default_model"] is None  # its own model is paid: the free plan names one
    assert roles["paraphrase"]["default_model"] == "mock-small"
    for role in roles.values():
        model = role["default_model"] or role["models"][0]
        body = {"messages": [{"role": "user", "content": "hi"}], "metadata": {"role": role["id"]}}
        if role["default_model"] is None:
            body["model"] = model
        answer = client.post("/v1/chat/completions", headers=headers, json=body)
        assert answer.status_code == 200, (role["id"], answer.text)
    unlisted = client.post(
        "/v1/chat/completions", headers=headers,
        json={"model": "mock-small", "messages": [{"role": "user", "content": "hi"}],
              "metadata": {"role": "switched-off"}},
    )  # fmt: skip
    assert unlisted.status_code == 404 and unlisted.json()["error"]["code"] == "role_not_found"
    role_only = client.post(
        "/v1/chat/completions", headers=headers,
        json={"messages": [{"role": "user", "content": "hi"}], "metadata": {"role": "paid-writer"}},
    )  # fmt: skip
    assert role_only.json()["error"]["code"] == "model_not_in_plan"  # as its null default_model said


def test_roles_follow_the_callers_plan_and_need_a_live_credential(client, settings):
    db_execute(settings, insert(AssistantRole).values([_role("paid-writer", "mock-large")]))
    headers = sign_up(client, "pro@example.com")
    db_execute(settings, update(Account).where(Account.email == "pro@example.com").values(plan_code="pro"))
    roles = {r["id"]: r for r in client.get(ROLES, headers=headers).json()}
    assert roles["paid-writer"]["default_model"] == "mock-large"
    assert roles["paid-writer"]["models"] == ["mock-small", "mock-large"]
    assert client.get(ROLES).status_code == 401
    assert client.get(ROLES, headers=bearer("not-a-token")).json()["error"]["code"] == "not_authenticated"
    client.post("/api/v1/auth/logout", headers=headers)
    assert client.get(ROLES, headers=headers).status_code == 401  # a revoked token
    staff = staff_headers(client, settings, "analyst")
    assert client.get(ROLES, headers=staff).status_code == 200  # any signed-in account may see its own


def test_staff_price_and_hide_a_plan_and_an_edit_that_does_not_name_them_keeps_them(client, settings):
    admin = staff_headers(client, settings, "admin")
    team = {
        "code": "team",
        "name": "Team",
        "model_tiers": "free,paid",
        "price_monthly": "19.5",
        "public": False,
    }
    assert client.post("/api/v1/admin/plans", json=team, headers=admin).status_code == 201
    assert "team" not in [p["code"] for p in client.get(PLANS).json()]
    shown = client.put("/api/v1/admin/plans/team", json={"name": "Team", "public": True}, headers=admin)
    assert shown.json()["price_monthly"] == "19.50"  # not named: kept
    assert client.put("/api/v1/admin/plans/team", json={"name": "Teams"}, headers=admin).json()["public"]
    [listed] = [p for p in client.get(PLANS).json() if p["code"] == "team"]  # the edit reached the snapshot
    assert (listed["name"], listed["price_monthly"]) == ("Teams", "19.50")
    for bad in (
        {"price_monthly": "-1"},
        {"price_monthly": "1.001"},
        {"price_monthly": "1e12"},
        {"public": "x"},
    ):
        refused = client.put("/api/v1/admin/plans/team", json={"name": "Team", **bad}, headers=admin)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error", bad
