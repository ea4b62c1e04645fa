"""`/api/v1/admin/live`: the last 1, 5 and 60 minutes straight from the OLTP database."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.events.types import USER_ACTIVITY
from api.main import create_app
from tests.support.api import bearer, completion_body, events_of, login, sign_up, staff_headers

ROOT = Path(__file__).resolve().parents[3]
THROUGHPUT = "/api/v1/admin/live/throughput"


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


@pytest.mark.both_databases  # the minute: date_trunc on PostgreSQL, the stored text cut on SQLite
def test_throughput_counts_a_known_burst_per_minute_by_model_and_provider(settings, clock):
    start = clock.now()
    with TestClient(create_app(settings.model_copy(update={"mock_faults": True}))) as client:
        clock.set(start - timedelta(hours=3, minutes=30))  # 08:30: inside 4 hours, outside 3
        ada = sign_up(client, "ada@example.com")
        assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
        clock.set(start - timedelta(hours=2, seconds=-10))  # 10:00:10
        ada = bearer(login(client, "ada@example.com"))
        assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
        clock.set(start + timedelta(seconds=5))  # the burst: three calls in 12:00, one failing
        ada = bearer(login(client, "ada@example.com"))
        bob = sign_up(client, "bob@example.com")
        assert client.post("/v1/chat/completions", headers=ada, json=completion_body()).status_code == 200
        clock.advance(seconds=30)
        failing = {**completion_body(), "metadata": {"mock": "fail"}}
        assert client.post("/v1/chat/completions", headers=bob, json=failing).status_code == 502
        assert client.post("/v1/chat/completions", headers=bob, json=completion_body()).status_code == 200
        clock.advance(seconds=50)  # 12:01:25
        analyst = staff_headers(client, settings, "analyst")
        assert client.get(THROUGHPUT, headers=ada).status_code == 403
        assert client.get(THROUGHPUT, headers=analyst, params={"hours": 25}).status_code == 422
        assert client.get(THROUGHPUT, headers=analyst, params={"hours": 0}).status_code == 422
        three = client.get(THROUGHPUT, headers=analyst, params={"hours": 3}).json()
        four = client.get(THROUGHPUT, headers=analyst, params={"hours": 4}).json()

    succeeded = events_of(settings, "llm.call_succeeded")
    (model,), (provider,) = {e.model_id for e in succeeded}, {e.provider for e in succeeded}
    tokens = [e.input_tokens + e.output_tokens for e in succeeded]  # in time order: 08:30, 10:00, 12:00 twice
    at = [start - timedelta(hours=3, minutes=30), start - timedelta(hours=2), start]
    expected = [(at[0], 1, 0, tokens[0]), (at[1], 1, 0, tokens[1]), (at[2], 3, 1, tokens[2] + tokens[3])]
    for answer, rows in ((four, expected), (three, expected[1:])):
        assert [
            (datetime.fromisoformat(m["minute"]), m["requests"], m["errors"], m["tokens"])
            for m in answer["minutes"]
        ] == rows
        assert {(m["model"], m["provider"]) for m in answer["minutes"]} == {(model, provider)}
        assert all(m["tokens"] == m["input_tokens"] + m["output_tokens"] for m in answer["minutes"])
    assert three["hours"] == 3 and datetime.fromisoformat(three["since"]) == clock.now() - timedelta(hours=3)
