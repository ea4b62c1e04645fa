"""`GET /api/v1/analytics/experiments/{id}` (decision 0060): the experiments' comparison marts, built over
the fixed event set of tests/support/experiments.py and published as a serving copy, through the route."""

from __future__ import annotations

import uuid

from tests.support import experiments
from tests.support.api import sign_up, staff_headers
from warehouse.publish import publish

URL = "/api/v1/analytics/experiments/{}"
VARIANT_KEYS = {
    "variant", "calls", "users", "errors", "cache_hits", "excluded", "error_rate", "error_rate_low",
    "error_rate_high", "latency_p50_ms", "latency_p50_low", "latency_p50_high", "latency_p95_ms",
    "latency_p95_low", "latency_p95_high", "tokens_per_call", "tokens_per_call_low", "tokens_per_call_high",
    "cost_per_call_usd", "cost_per_call_low", "cost_per_call_high", "feedback_count",
    "feedback_positive_share", "feedback_positive_low", "feedback_positive_high",
}  # fmt: skip
COMPARISON_KEYS = {"variant", "versus", "metric", "control_value", "value", "difference", "relative", "low",
                   "high", "outcome"}  # fmt: skip


def test_the_comparison_answers_analysts_in_the_panels_shape(client, settings, warehouse_settings, tmp_path):
    analyst = staff_headers(client, settings, "analyst")
    url = URL.format(experiments.EXPERIMENT)
    before = client.get(url, headers=analyst)
    assert before.status_code == 503 and before.json()["error"]["code"] == "warehouse_not_ready"

    built = tmp_path / "warehouse.duckdb"
    experiments.build(built, experiments.fixed_events()[0])
    publication = publish(built, warehouse_settings.serving_path)

    answer = client.get(url, headers=analyst)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert {k: v for k, v in report.items() if k not in ("variants", "comparisons")} == {
        "experiment_id": experiments.EXPERIMENT, "confidence": 0.95, "control": "A", "min_calls": 30,
        "min_feedback": 10, "refreshed_at": publication.published_at.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    assert [v["variant"] for v in report["variants"]] == ["A", "B", "C", "D"]
    assert all(set(v) == VARIANT_KEYS for v in report["variants"])
    a = report["variants"][0]
    assert (a["calls"], a["errors"], a["excluded"], a["error_rate"]) == (200, 10, 10, 0.05)
    assert a["feedback_count"] == 40
    assert report["variants"][1]["cache_hits"] == 12
    assert report["variants"][3]["latency_p95_high"] is None  # an open bound is null
    assert all(set(c) == COMPARISON_KEYS for c in report["comparisons"])
    outcomes = {(c["variant"], c["metric"]): c["outcome"] for c in report["comparisons"]}
    assert len(outcomes) == 18 and [c["metric"] for c in report["comparisons"][:6]] == [
        "error_rate", "latency_p50_ms", "latency_p95_ms", "tokens_per_call", "cost_per_call_usd",
        "feedback_positive_share",
    ]  # fmt: skip
    assert outcomes[("B", "error_rate")] == "worse" and outcomes[("B", "cost_per_call_usd")] == "better"
    assert outcomes[("C", "error_rate")] == "too_few"

    # An experiment without a call yet (or an id the warehouse never saw): empty lists, not a 404.
    empty = client.get(URL.format(uuid.uuid4()), headers=analyst)
    assert empty.status_code == 200
    assert (empty.json()["variants"], empty.json()["comparisons"], empty.json()["min_calls"]) == ([], [], 30)

    assert client.get(URL.format("not-a-uuid"), headers=analyst).status_code == 422
    user = sign_up(client, "ada@example.com")
    refused = client.get(url, headers=user)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
