"""`/api/v1/analytics/…`: the warehouse's figures for staff with analytics:read, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.support.api import completion_body, sign_up, staff_headers
from warehouse import queries

ENDPOINTS = [
    "/api/v1/analytics/active-users",
    "/api/v1/analytics/active-users?grain=week",
    "/api/v1/analytics/usage?grain=month",
    "/api/v1/analytics/costs?by=plan",
    "/api/v1/analytics/top/users",
    "/api/v1/analytics/top/models?metric=calls",
    "/api/v1/analytics/top/roles",
    "/api/v1/analytics/geography",
    "/api/v1/analytics/retention",
    "/api/v1/analytics/latency",
    "/api/v1/analytics/revenue",
    "/api/v1/analytics/feedback?by=role_version",
]
TOP_UP = "/api/v1/me/balance/top-up"


def test_before_the_first_publish_the_answer_is_503_warehouse_not_ready(client, settings):
    analyst = staff_headers(client, settings, "analyst")
    response = client.get("/api/v1/analytics/usage", headers=analyst)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "warehouse_not_ready"


def test_analytics_answer_staff_with_the_permission_in_json_and_csv(
    client, settings, warehouse_settings, pipeline, clock
):
    ada = sign_up(client, "ada@example.com", country="DE")
    bob = sign_up(client, "bob@example.com", country="FR")
    answers = [
        client.post("/v1/chat/completions", headers=headers, json=completion_body())
        for headers in (ada, ada, bob)
    ]
    assert [a.status_code for a in answers] == [200] * 3
    # Ada scores her first completion (and changes her mind: only the latest score counts); bob his.
    for headers, answer, score in (
        (ada, 0, {"value": 2}),
        (ada, 0, {"rating": "up"}),
        (bob, 2, {"value": 3}),
    ):
        url = f"/v1/chat/completions/{answers[answer].json()['id']}/feedback"
        assert client.post(url, headers=headers, json=score).status_code == 200
    # Revenue: ada pays 2.50 on free; bob 1.25 on free, then (moved to pro) 4.00 on pro.
    admin = staff_headers(client, settings, "admin")
    bob_id = client.get("/api/v1/admin/users", params={"q": "bob@"}, headers=admin).json()["items"][0]["id"]
    for headers, amount in ((ada, "2.50"), (bob, "1.25")):
        paid = client.post(TOP_UP, headers=headers, json={"amount": amount, "currency": "USD"})
        assert paid.status_code == 201, paid.text
    moved = {"plan": "pro", "reason": "upgrade"}
    assert client.post(f"/api/v1/admin/users/{bob_id}/plan", json=moved, headers=admin).status_code == 200
    assert client.post(TOP_UP, headers=bob, json={"amount": "4", "currency": "USD"}).status_code == 201
    pipeline()
    analyst = staff_headers(client, settings, "analyst")
    assert client.get("/api/v1/analytics/usage", headers=ada).status_code == 403
    assert client.get("/api/v1/analytics/revenue", headers=ada).status_code == 403

    for url in ENDPOINTS:
        response = client.get(url, headers=analyst)
        assert response.status_code == 200, (url, response.text)
        assert response.json()["rows"], url

    today = clock.now().date()  # the calls' day (the clock held: no midnight passes during the test)
    usage = client.get("/api/v1/analytics/usage", headers=analyst).json()
    assert usage["columns"][0] == "period_start"
    assert usage["rows"] == [
        {
            **usage["rows"][0],
            "period_start": today.isoformat(),
            "calls": 3,
            "completions": 3,
            "failed_calls": 0,
        }
    ]
    revenue = client.get("/api/v1/analytics/revenue", headers=analyst).json()["rows"]
    cost = usage["rows"][0]["cost_usd"]  # all three calls were on free
    assert [(r["plan"], r["top_ups"], r["revenue_usd"], r["calls"]) for r in revenue] == [
        ("free", 2, 3.75, 3),
        ("pro", 1, 4.0, 0),
    ]
    assert revenue[0]["provider_cost_usd"] == cost and revenue[0]["margin_usd"] == round(3.75 - cost, 8)
    top_users = client.get("/api/v1/analytics/top/users?metric=calls", headers=analyst).json()["rows"]
    assert [(r["email"], r["calls"]) for r in top_users] == [("ada@example.com", 2), ("bob@example.com", 1)]
    countries = {
        r["country_code"]: r["active_users"]
        for r in client.get("/api/v1/analytics/geography", headers=analyst).json()["rows"]
    }
    assert countries["DE"] == 1 and countries["FR"] == 1

    feedback = client.get("/api/v1/analytics/feedback?by=plan", headers=analyst).json()["rows"]
    assert feedback == [
        {"plan": "free", "scores": 2, "ratings_up": 1, "ratings_down": 0, "values_count": 1, "value_avg": 3.0,
         "positive": 1, "share_positive": 0.5}
    ]  # fmt: skip

    # The API and the panel share the query layer: the same figures.
    shared = queries.top("users", metric="calls", path=warehouse_settings.serving_path)
    assert list(shared["email"]) == ["ada@example.com", "bob@example.com"]

    exported = client.get("/api/v1/analytics/top/models?format=csv", headers=analyst)
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="top-models.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["model_id"] == "mock-small" and rows[0]["calls"] == "3"

    tomorrow = today + timedelta(days=1)
    empty = client.get(f"/api/v1/analytics/usage?start={tomorrow}", headers=analyst).json()
    assert empty["rows"] == []
    backwards = client.get(f"/api/v1/analytics/usage?start={tomorrow}&end={today}", headers=analyst)
    assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_range"
    assert client.get("/api/v1/analytics/top/planets", headers=analyst).status_code == 422
