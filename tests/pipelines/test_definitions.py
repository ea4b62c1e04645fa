from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_workspace_yaml_loads_the_code_location_as_dagster_does(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "AIADMIN_DATA_DIR": str(tmp_path / "var")}
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_definitions_hold_extract_dbt_and_publish_with_dbt_tests_as_checks():
    from pipelines.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert {
        "raw/usage_events",
        "raw/accounts",
        "raw/model_prices",
        "staging/stg_usage_events",
        "intermediate/int_activity_events",
        "snapshots/snap_accounts",
        "marts/fct_llm_calls",
        "marts/mart_active_users_daily",
        "marts/mart_retention_weekly",
        "marts/daily_usage",
        "raw/intent_requests",
        "marts/mart_intents_daily",
        "marts/mart_intent_examples",
        "serving_warehouse",
    } <= keys
    assert not any("api_key" in key or "password" in key for key in keys)
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"unique_daily_usage_day", "reconciles_with_raw_events"} <= check_names
