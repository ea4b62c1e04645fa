from __future__ import annotations

import duckdb
import pytest
from sqlalchemy import update

from api.accounts.models import Account
from pipelines.extract import extract_usage_events
from pipelines.resources import OltpResource, WarehouseResource
from tests.support.api import PASSWORD, completion_body, db_execute, event_counts, sign_up
from tests.support.world import published_copy
from warehouse.queries import daily_usage
from warehouse.settings import WarehouseSettings


def _activity(client, emails_and_calls: dict[str, int]) -> dict[str, dict[str, str]]:
    signed_in = {}
    for email, calls in emails_and_calls.items():
        headers = signed_in[email] = sign_up(client, email, country="FR")
        for _ in range(calls):
            client.post("/v1/chat/completions", headers=headers, json=completion_body())
    return signed_in


def _raw_count(warehouse_settings) -> int:
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0]


# On PostgreSQL, production's database: what the extract reads differently on SQLite is tested on both by
# test_extract_reads_past_its_cursor_and_is_idempotent (below) and tests/pipelines/test_extract.py.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_materialising_twice_over_the_same_events_counts_each_event_once(
    client, settings, warehouse_settings, pipeline
):
    signed_in = _activity(client, {"ada@example.com": 2, "bob@example.com": 4})  # bob's 4th is refused
    ada = signed_in["ada@example.com"]
    ada_id = client.get("/api/v1/me", headers=ada).json()["id"]

    first = pipeline()
    usage_first = daily_usage(path=warehouse_settings.serving_path)
    db_execute(settings, update(Account).where(Account.email == "bob@example.com").values(plan_code="pro"))
    # Ada deletes her account (docs/decisions/0047): her events stay hers, her email leaves the warehouse.
    assert client.request("DELETE", "/api/v1/me", headers=ada, json={"password": PASSWORD}).status_code == 204
    oltp_events = sum(event_counts(settings).values())
    second = pipeline()
    usage_second = daily_usage(path=warehouse_settings.serving_path)

    assert first.success and second.success
    assert _raw_count(warehouse_settings) == oltp_events
    assert usage_first.equals(usage_second)
    assert len(usage_second) == 1
    today = usage_second.iloc[0]
    assert today["active_users"] == 2
    assert today["completions"] == 5
    # The dimension snapshot keeps history: bob's plan before and after the change.
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        versions = con.execute(
            "SELECT s.plan_code, s.dbt_valid_to IS NULL FROM snapshots.snap_accounts AS s "
            "WHERE s.email = 'bob@example.com' ORDER BY s.dbt_valid_from"
        ).fetchall()
    assert versions == [("free", False), ("pro", True)]
    tombstone = f"deleted-{ada_id.replace('-', '')}@deleted.invalid"
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        ada_rows = con.execute(
            "SELECT 'raw', email FROM raw.accounts WHERE CAST(id AS VARCHAR) = $id UNION ALL "
            "SELECT 'snapshot', email FROM snapshots.snap_accounts WHERE CAST(id AS VARCHAR) = $id",
            {"id": ada_id},
        ).fetchall()
    # Her row and both versions of her (before and after her country was erased) carry the tombstone only.
    assert sorted(ada_rows) == [("raw", tombstone), ("snapshot", tombstone), ("snapshot", tombstone)]


def test_dbt_tests_run_as_asset_checks_and_pass(client, settings, pipeline):
    _activity(client, {"ada@example.com": 1})
    result = pipeline()
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    assert checks[("marts/daily_usage", "unique_daily_usage_day")] is True
    assert checks[("staging/stg_usage_events", "unique_stg_usage_events_event_id")] is True
    assert all(checks.values())


def _resources(settings, warehouse_settings):
    oltp = OltpResource(database_url=settings.database_url)
    warehouse = WarehouseResource(
        warehouse_path=str(warehouse_settings.warehouse_path),
        serving_path=str(warehouse_settings.serving_path),
    )
    return oltp, warehouse


@pytest.mark.both_databases  # the extract reads each database its own way
def test_extract_reads_past_its_cursor_and_is_idempotent(client, settings, warehouse_settings):
    oltp, warehouse = _resources(settings, warehouse_settings)
    _activity(client, {"ada@example.com": 1})
    first = extract_usage_events(oltp, warehouse)
    again = extract_usage_events(oltp, warehouse)
    _activity(client, {"bob@example.com": 2})
    third = extract_usage_events(oltp, warehouse)

    produced = sum(event_counts(settings).values())
    assert first["inserted"] == first["total"] == first["read"]
    assert again["inserted"] == 0 and again["total"] == first["total"]
    assert third["inserted"] == produced - first["total"]
    assert third["total"] == produced


def test_dbt_docs_generate_documents_the_built_marts_and_names_the_exposures(published_template, tmp_path):
    import json
    import os
    import subprocess

    from pipelines.dbt_assets import DBT_DIR, DBT_EXECUTABLE

    settings = published_copy(published_template, tmp_path / "world")  # a warehouse the pipeline built
    warehouse_settings = WarehouseSettings(data_dir=settings.data_dir)
    done = subprocess.run(
        # Its target and its log in the test's own folder (not dbt/logs, shared with parallel test workers).
        [
            *(DBT_EXECUTABLE, "docs", "generate", "--profiles-dir", "."),
            *("--target-path", str(tmp_path / "docs"), "--log-path", str(tmp_path / "logs")),
        ],
        cwd=DBT_DIR,
        env={**os.environ, "AIADMIN_WAREHOUSE_PATH": str(warehouse_settings.warehouse_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    catalog = json.loads((tmp_path / "docs" / "catalog.json").read_text())
    documented = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert {"mart_active_users_daily", "fct_llm_calls", "mart_user_facts"} <= documented
    manifest = json.loads((tmp_path / "docs" / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"admin_panel", "analytics_api"}
    assert "model.aiadmin.daily_usage" in exposures["admin_panel"]["depends_on"]["nodes"]
