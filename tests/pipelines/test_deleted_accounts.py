"""An account deleted at its owner's request (docs/decisions/0047): the pipeline still counts its events,
and the warehouse holds its tombstone, not its email, in the dimension and in the dimension's history."""

from __future__ import annotations

import duckdb

from tests.support.api import PASSWORD, completion_body, sign_up
from warehouse.queries import daily_usage


def test_a_deleted_account_keeps_its_events_in_the_marts_and_leaves_no_email_in_the_warehouse(
    client, warehouse_settings, pipeline
):
    ada = sign_up(client, "ada@example.com")
    for _ in range(2):
        assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
    ada_id = client.get("/api/v1/me", headers=ada).json()["id"]
    assert pipeline().success  # the snapshot's first version of ada has her email
    before = daily_usage(path=warehouse_settings.serving_path)

    assert client.request("DELETE", "/api/v1/me", headers=ada, json={"password": PASSWORD}).status_code == 204
    assert pipeline().success  # dbt's tests and the reconciliation check pass with the tombstone

    after = daily_usage(path=warehouse_settings.serving_path)
    assert after["completions"].sum() == before["completions"].sum() == 2
    assert after["active_users"].max() == before["active_users"].max()
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        found = con.execute(
            "SELECT 'raw', email FROM raw.accounts WHERE CAST(id AS VARCHAR) = $id "
            "UNION ALL SELECT 'snapshot', email FROM snapshots.snap_accounts WHERE CAST(id AS VARCHAR) = $id",
            {"id": ada_id},
        ).fetchall()
        anywhere = con.execute(
            "SELECT count(*) FROM snapshots.snap_accounts WHERE email = 'ada@example.com'"
        ).fetchone()[0]
    tombstone = f"deleted-{ada_id.replace('-', '')}@deleted.invalid"
    assert {where for where, _ in found} == {"raw", "snapshot"} and len(found) >= 3  # two snapshot versions
    assert {email for _, email in found} == {tombstone}
    assert anywhere == 0
