"""`/api/v1/admin/health`: the database, the serving copy, the pipeline's last runs and the providers."""

from __future__ import annotations

from tests.support.api import completion_body, sign_up, staff_headers
from warehouse.status import record_run


def test_health_reports_database_pipeline_and_providers_to_staff_only(client, settings):
    user = sign_up(client, "ada@example.com")
    assert client.get("/api/v1/admin/health", headers=user).status_code == 403
    client.post("/v1/chat/completions", headers=user, json=completion_body())
    viewer = staff_headers(client, settings, "viewer")

    fresh = client.get("/api/v1/admin/health", headers=viewer).json()
    assert fresh["status"] == "ok"
    assert fresh["database"]["ok"] is True
    assert fresh["warehouse"] == {"published_at": None, "age_seconds": None}  # nothing published yet
    assert fresh["pipeline"]["last_run"] is None
    mock = next(p for p in fresh["providers"] if p["id"] == "mock")
    assert mock["calls_succeeded"] == 1 and mock["calls_failed"] == 0

    record_run(settings.data_dir, run_id="r1", succeeded=False, failed_steps=["dbt_models"], message="boom")
    failed = client.get("/api/v1/admin/health", headers=viewer).json()
    assert failed["status"] == "degraded"
    assert failed["pipeline"]["ok"] is False
    assert failed["pipeline"]["last_failure"]["failed_steps"] == ["dbt_models"]

    record_run(settings.data_dir, run_id="r2", succeeded=True)
    recovered = client.get("/api/v1/admin/health", headers=viewer).json()
    assert recovered["status"] == "ok" and recovered["pipeline"]["last_failure"]["run_id"] == "r1"
