"""`/api/v1/admin/settings` and `/plans`: admins change the rate, registration, the default plan and the
plans; each change is audited and takes effect at once."""

from __future__ import annotations

from decimal import Decimal

from tests.support.api import sign_up, staff_headers

SETTINGS = "/api/v1/admin/settings"
PLANS = "/api/v1/admin/plans"


def test_settings_registration_default_plan_and_credit_rate(client, settings):
    admin = staff_headers(client, settings, "admin")
    current = client.get(SETTINGS, headers=admin).json()
    assert (current["registration_open"], current["default_plan"]) == (True, "free")
    rate = current["credit_rate"]
    assert (rate["currency"], Decimal(rate["price_per_credit"]), Decimal(rate["usd_per_credit"])) == (
        "USD",
        Decimal("0.01"),
        Decimal("0.01"),
    )

    closed = client.patch(SETTINGS, json={"registration_open": False}, headers=admin)
    assert closed.status_code == 200 and closed.json()["registration_open"] is False
    refused = client.post(
        "/api/v1/auth/register", json={"email": "late@example.com", "password": "a long enough password 42"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "registration_closed"

    assert (
        client.patch(SETTINGS, json={"default_plan": "gold"}, headers=admin).json()["error"]["code"]
        == "unknown_plan"
    )
    changed = client.patch(
        SETTINGS,
        json={
            "registration_open": True,
            "default_plan": "pro",
            "credit_rate": {"currency": "EUR", "price_per_credit": "0.02", "usd_per_credit": "0.01"},
        },
        headers=admin,
    )
    assert changed.status_code == 200
    ada = sign_up(client, "ada@example.com")
    assert client.get("/api/v1/me", headers=ada).json()["plan_code"] == "pro"  # the new default plan
    topped = client.post("/api/v1/me/balance/top-up", json={"amount": "10", "currency": "EUR"}, headers=ada)
    assert topped.status_code == 201 and Decimal(topped.json()["credits"]) == Decimal(500)  # 10 / 0.02

    trail = client.get("/api/v1/admin/audit", params={"action": "settings.change"}, headers=admin).json()
    assert trail[0]["after"]["default_plan"] == "pro" and trail[0]["before"]["default_plan"] == "free"
    assert trail[1]["after"] == {"registration_open": False} and trail[1]["before"] == {
        "registration_open": True
    }
    moderator = staff_headers(client, settings, "moderator")
    assert client.patch(SETTINGS, json={"registration_open": False}, headers=moderator).status_code == 403
    assert client.patch(SETTINGS, json={"surprise": 1}, headers=admin).status_code == 422


def test_plans_create_update_delete_with_limits_applied_at_once(client, settings, clock):
    admin = staff_headers(client, settings, "admin")
    plan = {"code": "team", "name": "Team", "model_tiers": "free,paid", "daily_requests": 1}
    assert client.post(PLANS, json=plan, headers=admin).status_code == 201
    assert client.post(PLANS, json=plan, headers=admin).json()["error"]["code"] == "plan_exists"
    assert "team" in [
        p["code"] for p in client.get(PLANS, headers=staff_headers(client, settings, "analyst")).json()
    ]

    ada = sign_up(client, "ada@example.com")
    ada_id = client.get("/api/v1/me", headers=ada).json()["id"]
    assert (
        client.post(f"/api/v1/admin/users/{ada_id}/plan", json={"plan": "team"}, headers=admin).status_code
        == 200
    )
    completion = {"model": "mock-small", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", headers=ada, json=completion).status_code == 200
    assert client.post("/v1/chat/completions", headers=ada, json=completion).status_code == 429  # 1 a day

    fields = {key: value for key, value in plan.items() if key != "code"}
    raised = client.put(f"{PLANS}/team", json={**fields, "daily_requests": 5}, headers=admin)
    assert raised.status_code == 200 and raised.json()["daily_requests"] == 5
    assert client.post("/v1/chat/completions", headers=ada, json=completion).status_code == 200  # at once

    in_use = client.delete(f"{PLANS}/team", headers=admin)
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "plan_in_use"
    assert (
        client.post(f"/api/v1/admin/users/{ada_id}/plan", json={"plan": "free"}, headers=admin).status_code
        == 200
    )
    assert client.delete(f"{PLANS}/team", headers=admin).status_code == 204
    assert client.delete(f"{PLANS}/team", headers=admin).status_code == 404
    actions = [
        t["action"]
        for t in client.get("/api/v1/admin/audit", params={"target_type": "plan"}, headers=admin).json()
    ]
    assert actions == ["plan.delete", "plan.update", "plan.create"]
    assert client.post(PLANS, json={**plan, "code": "Bad Code"}, headers=admin).status_code == 422
