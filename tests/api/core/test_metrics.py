"""`/metrics`: Prometheus text with requests by route template and status, and a duration histogram."""

from __future__ import annotations

import re

import pytest

from tests.support.api import sign_up


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_count_requests_by_route_template_and_status(client):
    headers = sign_up(client, "ada@example.com")
    for _ in range(3):
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/chats/not-a-uuid", headers=headers).status_code == 422
    assert client.get("/nowhere").status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'aiadmin_http_requests_total{method="GET",route="/api/v1/me",status="200"} 3' in text
    assert 'aiadmin_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1' in text
    assert 'route="/api/v1/chats/{chat_id}",status="422"} 1' in text  # the template, not the path
    assert 'route="(unmatched)",status="404"} 1' in text
    assert "not-a-uuid" not in text
    buckets = re.findall(
        r'duration_seconds_bucket\{method="GET",route="/api/v1/me",le="([^"]+)"\} (\d+)', text
    )
    assert buckets[-1] == ("+Inf", "4") and [int(c) for _, c in buckets] == sorted(int(c) for _, c in buckets)
    assert 'aiadmin_http_request_duration_seconds_count{method="GET",route="/api/v1/me"} 4' in text
