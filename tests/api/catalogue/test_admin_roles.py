"""`/api/v1/admin/roles`: each change a version with its author; diff, rollback, usage; in use at once."""

from __future__ import annotations

from tests.support.api import completion_body, events_of, sign_up, staff_headers

ROLES = "/api/v1/admin/roles"
ROLE = {
    "id": "pirate",
    "name": "Pirate",
    "system_prompt": "Talk like a pirate.\nBe brief.",
    "default_model": "mock-small",
}


def test_versions_diff_rollback_and_delete_of_a_role(client, settings, upstream):
    admin = staff_headers(client, settings, "admin")
    assert (
        client.post(ROLES, json=ROLE, headers=staff_headers(client, settings, "analyst")).status_code == 403
    )
    created = client.post(ROLES, json=ROLE, headers=admin)
    assert created.status_code == 201 and created.json()["version"] == 1
    assert client.post(ROLES, json=ROLE, headers=admin).json()["error"]["code"] == "role_exists"
    unknown = client.post(ROLES, json={**ROLE, "id": "ghostly", "default_model": "ghost"}, headers=admin)
    assert unknown.json()["error"]["code"] == "unknown_model"

    fields = {k: v for k, v in ROLE.items() if k != "id"}
    edited = client.put(
        f"{ROLES}/pirate",
        json={**fields, "system_prompt": "Talk like a pirate.\nBe very brief."},
        headers=admin,
    )
    assert edited.json()["version"] == 2
    versions = client.get(f"{ROLES}/pirate/versions", headers=admin).json()
    assert [(v["version"], v["author_email"]) for v in versions] == [
        (1, "admin@example.com"),
        (2, "admin@example.com"),
    ]
    diff = client.get(f"{ROLES}/pirate/diff", params={"from": 1, "to": 2}, headers=admin).json()
    assert "-Be brief." in diff["system_prompt_diff"] and "+Be very brief." in diff["system_prompt_diff"]
    assert diff["changed"] == {}

    ada = sign_up(client, "ada@example.com")
    answer = client.post(
        "/v1/chat/completions", headers={**ada, "X-Assistant-Role": "pirate"}, json=completion_body()
    )
    assert answer.status_code == 200
    assert client.get(f"{ROLES}/pirate/usage", headers=admin).json()["completions"] == 1

    rolled = client.post(f"{ROLES}/pirate/rollback", json={"version": 1}, headers=admin).json()
    assert rolled["version"] == 3 and rolled["system_prompt"] == ROLE["system_prompt"]
    assert client.post(f"{ROLES}/pirate/rollback", json={"version": 9}, headers=admin).status_code == 404
    # Each call names the version of the role it ran with (what feedback is counted by: decision 0054).
    headers = {**ada, "X-Assistant-Role": "pirate"}
    assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
    calls = events_of(settings, "llm.call_succeeded")
    assert [e.properties["role_version"] for e in calls] == [2, 3]

    assert client.delete(f"{ROLES}/pirate", headers=admin).status_code == 204
    gone = client.post(
        "/v1/chat/completions", headers={**ada, "X-Assistant-Role": "pirate"}, json=completion_body()
    )
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "role_not_found"
    assert len(client.get(f"{ROLES}/pirate/versions", headers=admin).json()) == 3  # kept for the record
    actions = [
        e["action"]
        for e in client.get("/api/v1/admin/audit", params={"target_type": "role"}, headers=admin).json()
    ]
    assert actions == ["role.delete", "role.rollback", "role.edit", "role.create"]


def test_where_the_portal_offers_a_role_is_part_of_its_versioned_content(client, settings):
    admin = staff_headers(client, settings, "admin")
    assert client.post(ROLES, json={**ROLE, "tool": "editor"}, headers=admin).json()["tool"] == "editor"
    fields = {k: v for k, v in ROLE.items() if k != "id"}
    assert client.put(f"{ROLES}/pirate", json={**fields, "tool": "prompts"}, headers=admin).json()[
        "tool"
    ] == ("prompts")
    bad = client.put(f"{ROLES}/pirate", json={**fields, "tool": "<script>"}, headers=admin)
    assert bad.status_code == 422
    diff = client.get(f"{ROLES}/pirate/diff", params={"from": 1, "to": 2}, headers=admin).json()
    assert diff["changed"]["tool"] == {"from": "editor", "to": "prompts"}
    ada = sign_up(client, "ada@example.com")
    offered = {r["id"]: r["tool"] for r in client.get("/api/v1/me/roles", headers=ada).json()}
    assert offered["pirate"] == "prompts"
