"""`/api/v1/admin/live`: the last 1, 5 and 60 minutes straight from the OLTP database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.events.types import USER_ACTIVITY
from api.main import create_app
from tests.support.api import completion_body, sign_up, staff_headers

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.both_databases  # p95: percentile_disc on PostgreSQL, in Python on SQLite
def test_live_counts_calls_errors_active_end_users_and_p95_latency(settings):
    with TestClient(create_app(settings.model_copy(update={"mock_faults": True}))) as client:
        ada = sign_up(client, "ada@example.com")
        for _ in range(2):
            assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
        failing = {**completion_body(), "metadata": {"mock": "fail"}}
        assert client.post("/v1/chat/completions", headers=ada, json=failing).status_code == 502
        analyst = staff_headers(client, settings, "analyst")  # staff: never an active user
        assert client.get("/api/v1/admin/live", headers=ada).status_code == 403

        live = client.get("/api/v1/admin/live", headers=analyst).json()
    assert [w["minutes"] for w in live["windows"]] == [1, 5, 60]
    for window in live["windows"]:
        assert (window["requests"], window["errors"], window["active_users"]) == (3, 1, 1)
        assert window["error_rate"] == round(1 / 3, 4)
        assert window["latency_p95_ms"] is not None and window["latency_p95_ms"] >= 0


def test_the_api_and_the_warehouse_define_active_with_the_same_event_types():
    macro = (ROOT / "dbt" / "macros" / "activity.sql").read_text()
    body = macro[macro.index("macro user_activity_event_types") : macro.index("endmacro")]
    assert set(re.findall(r"'([a-z_.]+)'", body)) == {t.value for t in USER_ACTIVITY}
