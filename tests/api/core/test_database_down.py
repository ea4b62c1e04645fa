"""The database gone or restarted: a clear 503 the client may retry, then recovery without an API restart."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.main import create_app
from tests.support.api import free_port, sign_up


def test_an_unreachable_database_answers_503_database_unavailable(settings):
    dead = settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"}
    )
    with TestClient(create_app(dead)) as client:
        response = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x" * 12})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "database_unavailable"


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a PostgreSQL scenario
def test_connections_killed_under_the_api_give_at_most_503s_then_it_recovers(settings, client):
    headers = sign_up(client, "reconnect@example.com", settings)
    assert client.get("/api/v1/me", headers=headers).status_code == 200

    # What a PostgreSQL restart does to the API's pooled connections: the server ends them.
    url = make_url(settings.database_url)
    with psycopg.connect(
        f"host={url.host} port={url.port or 5432} user={url.username} dbname=postgres", autocommit=True
    ) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        )

    statuses = [client.get("/api/v1/me", headers=headers).status_code for _ in range(12)]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[-1] == 200, statuses  # recovered, with the same API process
