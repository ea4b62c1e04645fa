"""`/api/v1/admin/models`: the catalogue staff edit; names, visibility and prices show at once in /v1/models
and in the cost of the next call; a referenced model cannot be deleted."""

from __future__ import annotations

from decimal import Decimal

from tests.support.api import completion_body, events_of, sign_up, staff_headers

MODELS = "/api/v1/admin/models"
NEW = {
    "id": "acme-mini",
    "display_name": "Acme Mini",
    "tier": "free",
    "input_usd_per_million": "1",
    "output_usd_per_million": "2",
    "routes": [{"provider_id": "mock", "provider_model": "mock-small"}],
}


def test_create_rename_reprice_hide_reorder_and_delete_a_model(client, settings):
    admin = staff_headers(client, settings, "admin")
    analyst = staff_headers(client, settings, "analyst")
    assert client.post(MODELS, json=NEW, headers=analyst).status_code == 403
    created = client.post(MODELS, json=NEW, headers=admin)
    assert created.status_code == 201 and created.json()["routes"] == NEW["routes"]
    assert client.post(MODELS, json=NEW, headers=admin).json()["error"]["code"] == "model_exists"
    bad = client.post(
        MODELS,
        json={**NEW, "id": "x", "routes": [{"provider_id": "ghost", "provider_model": "m"}]},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_provider"

    ada = sign_up(client, "ada@example.com")
    assert "acme-mini" in [m["id"] for m in client.get("/v1/models", headers=ada).json()["data"]]
    first = client.post("/v1/chat/completions", headers=ada, json=completion_body(model="acme-mini"))
    assert first.status_code == 200

    fields = {k: v for k, v in NEW.items() if k != "id"}
    repriced = client.put(
        f"{MODELS}/acme-mini",
        json={
            **fields,
            "display_name": "Acme Mini 2",
            "input_usd_per_million": "10",
            "output_usd_per_million": "20",
        },
        headers=admin,
    ).json()
    assert repriced["display_name"] == "Acme Mini 2" and len(repriced["price_history"]) == 2
    listed = {m["id"]: m for m in client.get("/v1/models", headers=ada).json()["data"]}
    assert listed["acme-mini"]["display_name"] == "Acme Mini 2"  # the rename reaches the apps' model list
    assert (
        client.post("/v1/chat/completions", headers=ada, json=completion_body(model="acme-mini")).status_code
        == 200
    )
    costs = [
        e.cost_usd / (e.input_tokens * 1 + e.output_tokens * 2)
        for e in events_of(settings, "llm.call_succeeded")
    ]
    assert [round(c * 1_000_000, 6) for c in costs] == [Decimal(1), Decimal(10)]  # each call at its price

    hidden = client.put(f"{MODELS}/acme-mini", json={**fields, "visible": False}, headers=admin)
    assert hidden.status_code == 200
    assert "acme-mini" not in [m["id"] for m in client.get("/v1/models", headers=ada).json()["data"]]
    in_use = client.delete(f"{MODELS}/acme-mini", headers=admin)
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "model_in_use"
    usage = client.get(f"{MODELS}/acme-mini/usage", headers=analyst).json()
    assert usage["completions"] == 2 and usage["users"] == 1

    assert client.post(MODELS, json={**NEW, "id": "acme-spare"}, headers=admin).status_code == 201
    order = client.post(f"{MODELS}/order", json={"ids": ["acme-spare", "mock-large"]}, headers=admin).json()
    assert order[:2] == ["acme-spare", "mock-large"]
    assert client.delete(f"{MODELS}/acme-spare", headers=admin).status_code == 204
    assert client.get(f"{MODELS}/acme-spare/usage", headers=analyst).status_code == 404
    actions = [
        e["action"]
        for e in client.get("/api/v1/admin/audit", params={"target_type": "model"}, headers=admin).json()
    ]
    assert actions == [
        "model.delete",
        "model.reorder",
        "model.create",
        "model.edit",
        "model.edit",
        "model.create",
    ]
