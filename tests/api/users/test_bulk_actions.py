"""`POST /api/v1/admin/users/bulk`: many accounts, one reason, all or nothing, each audited."""

from __future__ import annotations

import uuid

from tests.support.api import events_of, sign_up, staff_headers

USERS = "/api/v1/admin/users"
BULK = f"{USERS}/bulk"


def _ids(client, headers, *emails):
    return [client.get(USERS, params={"q": e}, headers=headers).json()["items"][0]["id"] for e in emails]


def _states(client, headers, ids):
    return [
        (a["is_blocked"], a["plan_code"])
        for a in (client.get(f"{USERS}/{i}", headers=headers).json()["account"] for i in ids)
    ]


def test_bulk_block_is_all_or_nothing_and_each_account_gets_an_audit_row_with_the_bulk_reference(
    client, settings
):
    emails = [f"bulk{n}@example.com" for n in range(3)]
    users = [sign_up(client, e) for e in emails]
    moderator = staff_headers(client, settings, "moderator")
    admin = staff_headers(client, settings, "admin")
    ids = _ids(client, moderator, *emails)
    (admin_id,) = _ids(client, moderator, "admin@example.com")
    before = _states(client, moderator, ids)

    # One bad id of each kind: unknown, staff above the moderator, already in that state. Nothing changes.
    unknown = str(uuid.UUID(int=7))
    for bad, status, code in ((unknown, 404, "not_found"), (admin_id, 403, "staff_target_requires_admin")):
        refused = client.post(
            BULK, json={"action": "block", "user_ids": [*ids, bad], "reason": "spam wave"}, headers=moderator
        )
        assert refused.status_code == status and refused.json()["error"]["code"] == code
        assert refused.json()["error"]["account_id"] == bad and "nothing was changed" in refused.text
        assert _states(client, moderator, ids) == before
    assert client.get("/api/v1/me", headers=users[0]).status_code == 200  # its session was not ended
    assert events_of(settings, "user.blocked") == []

    done = client.post(
        BULK, json={"action": "block", "user_ids": ids, "reason": "spam wave"}, headers=moderator
    )
    assert done.status_code == 200 and done.json()["changed"] == 3
    reference = done.json()["bulk"]
    assert [s for s, _ in _states(client, moderator, ids)] == [True, True, True]
    assert client.get("/api/v1/me", headers=users[2]).status_code == 401
    for account_id in ids:
        (row,) = client.get(f"{USERS}/{account_id}/history", headers=moderator).json()
        assert (row["action"], row["reason"], row["after"]) == (
            "user.block", "spam wave", {"is_blocked": True, "bulk": reference},
        )  # fmt: skip
    assert {e.properties["bulk"] for e in events_of(settings, "user.blocked")} == {reference}
    (summary,) = client.get("/api/v1/admin/audit", params={"action": "user.bulk"}, headers=admin).json()
    assert summary["target_id"] == reference and summary["after"]["accounts"] == ids

    again = client.post(  # one already blocked: a 409, and the two others stay unblocked
        BULK, json={"action": "unblock", "user_ids": ids[:2], "reason": "appeal"}, headers=moderator
    )
    assert again.status_code == 200
    mixed = client.post(
        BULK, json={"action": "unblock", "user_ids": ids, "reason": "x" * 3}, headers=moderator
    )
    assert mixed.status_code == 409 and mixed.json()["error"]["code"] == "no_change"
    assert [s for s, _ in _states(client, moderator, ids)] == [False, False, True]


def test_bulk_plan_change_needs_users_write_a_plan_at_most_100_ids_and_never_touches_oneself(
    client, settings
):
    emails = [f"plan{n}@example.com" for n in range(2)]
    for e in emails:
        sign_up(client, e)
    admin = staff_headers(client, settings, "admin")
    analyst = staff_headers(client, settings, "analyst")
    ids = _ids(client, admin, *emails)
    (admin_id,) = _ids(client, admin, "admin@example.com")
    body = {"action": "change_plan", "user_ids": ids, "reason": "promo", "plan": "pro"}

    lower = client.post(BULK, json=body, headers=analyst)
    assert lower.status_code == 403 and lower.json()["error"]["code"] == "forbidden"
    assert client.post(BULK, json=body).status_code == 401
    too_many = {**body, "user_ids": [str(uuid.UUID(int=n)) for n in range(101)]}
    twice, none = {**body, "user_ids": [ids[0], ids[0]]}, {**body, "user_ids": []}
    hostile, no_plan = {**body, "reason": "<script>\x00"}, {**body, "plan": None}
    for bad in (too_many, no_plan, twice, none, {**body, "action": "delete"}, hostile):
        assert client.post(BULK, json=bad, headers=admin).status_code == 422, bad
    unknown = client.post(BULK, json={**body, "plan": "platinum"}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_plan"
    itself = client.post(BULK, json={**body, "user_ids": [*ids, admin_id]}, headers=admin)
    assert itself.status_code == 403 and itself.json()["error"]["code"] == "cannot_act_on_self"
    assert _states(client, admin, ids) == [(False, "free"), (False, "free")]

    assert client.post(BULK, json=body, headers=admin).status_code == 200
    assert _states(client, admin, ids) == [(False, "pro"), (False, "pro")]
    assert sorted(e.properties["to"] for e in events_of(settings, "plan.changed")) == ["pro", "pro"]
