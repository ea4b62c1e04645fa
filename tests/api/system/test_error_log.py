"""The error log: an unhandled exception and a provider failure, each found by the request id."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from api.auth.deps import Public
from api.main import create_app
from tests.support.api import completion_body, sign_up, staff_headers


def test_a_500_and_a_provider_failure_are_logged_with_the_request_id_the_client_saw(settings):
    app = create_app(settings.model_copy(update={"mock_faults": True}))

    @app.get("/boom", dependencies=[Public])
    async def boom() -> None:
        raise RuntimeError("the bug we are looking for")

    with TestClient(app, raise_server_exceptions=False) as client:
        crashed = client.get("/boom", headers={"X-Request-ID": "trace-500"})
        assert crashed.status_code == 500
        assert crashed.json()["error"] == {
            "code": "internal_error",
            "message": "internal server error",
            "type": "api_error",
            "param": None,
            "request_id": "trace-500",
        }
        assert crashed.headers["x-request-id"] == "trace-500"
        assert "the bug" not in crashed.text

        ada = sign_up(client, "ada@example.com")
        failing = {**completion_body(), "metadata": {"mock": "fail"}}
        failed = client.post(
            "/v1/chat/completions", headers={**ada, "X-Request-ID": "trace-502"}, json=failing
        )
        assert failed.status_code == 502

        viewer = staff_headers(client, settings, "viewer")
        unhandled = client.get(
            "/api/v1/admin/errors", params={"request_id": "trace-500"}, headers=viewer
        ).json()
        assert [(e["kind"], e["error_type"], e["message"], e["path"]) for e in unhandled] == [
            ("unhandled", "RuntimeError", "the bug we are looking for", "/boom")
        ]
        provider = client.get("/api/v1/admin/errors", params={"kind": "provider"}, headers=viewer).json()
        assert [(e["request_id"], e["error_type"]) for e in provider] == [
            ("trace-502", "all_providers_failed")
        ]
        assert provider[0]["details"]["attempts"] == [{"provider": "mock", "error": "mock_failure"}]
        exported = client.get(
            "/api/v1/admin/errors/export", params={"kind": "provider", "format": "csv"}, headers=viewer
        )
        (row,) = csv.DictReader(io.StringIO(exported.text))
        assert (row["request_id"], row["error_type"]) == ("trace-502", "all_providers_failed")
        assert json.loads(row["details"])["attempts"][0]["provider"] == "mock"
        assert client.get("/api/v1/admin/errors/export", headers=ada).status_code == 403
        assert client.get("/api/v1/admin/errors", headers=ada).status_code == 403
