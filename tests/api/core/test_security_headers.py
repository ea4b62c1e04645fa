"""What every answer says to browsers and caches, and what a production API shows of itself: no sniffing,
no stored tokens, HSTS over TLS; no docs, no schema, and metrics only for staff or the scraper's token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.core.settings import Settings
from api.main import create_app
from tests.support.api import bearer, completion_body, sign_up, staff_headers, tokens

SCRAPE_TOKEN = "a-scrape-token-for-prometheus-0123456789"


def _production(settings: Settings, **changes) -> Settings:
    """The test's settings as production reads them: what depends on the environment is left to default."""
    derived = {"hsts", "api_docs", "public_metrics", "test_top_ups"}
    values = settings.model_dump(exclude=derived) | {"environment": "production", **changes}
    values["secret_key"] = settings.secret_key.get_secret_value()
    return Settings(**values)


def test_answers_carrying_tokens_may_not_be_stored_and_none_may_be_sniffed(client, settings):
    ada = sign_up(client, "ada@example.com")
    answers = {
        "login": client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": "correct-horse-battery"}
        ),
        "refresh": client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens(client, "ada@example.com")["refresh_token"]}
        ),
        "2fa setup": client.post("/api/v1/auth/2fa/setup", headers=ada),
        "api key": client.post("/api/v1/me/api-keys", headers=ada, json={"name": "laptop"}),
        "profile": client.get("/api/v1/me", headers=ada),
        "refused": client.get("/api/v1/me"),
        "no route": client.get("/nowhere"),
        "refused at the door": client.post(
            "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        ),
    }
    for what, answer in answers.items():
        assert answer.headers.get("x-content-type-options") == "nosniff", what
        assert answer.headers.get("cache-control") == "no-store", what
        assert "strict-transport-security" not in answer.headers, what  # plain HTTP here
    assert answers["login"].status_code == 200 and "access_token" in answers["login"].json()
    assert answers["api key"].status_code == 201 and answers["refused at the door"].status_code == 400
    # A route that chose its own caching keeps it: the stream of a completion.
    with client.stream(
        "POST", "/v1/chat/completions", headers=ada, json={**completion_body(), "stream": True}
    ) as stream:
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-content-type-options"] == "nosniff"


def test_hsts_is_sent_when_the_api_is_reached_over_tls(settings):
    over_tls = settings.model_copy(update={"public_url": "https://api.example.com"})
    for configured, expected in ((_production(over_tls), True), (settings, False)):
        with TestClient(create_app(configured)) as client:
            health = client.get("/health")
        assert ("strict-transport-security" in health.headers) is expected
    with TestClient(create_app(_production(over_tls))) as client:
        hsts = client.get("/nowhere").headers["strict-transport-security"]
    assert hsts == "max-age=31536000; includeSubDomains"


def test_in_production_the_docs_are_off_and_metrics_need_staff_or_the_scrape_token(settings):
    production = _production(settings, metrics_token=SCRAPE_TOKEN)
    with TestClient(create_app(production)) as client:
        for path in (
            "/docs",
            "/redoc",
            "/openapi.json",
            "/docs/oauth2-redirect",
            "/docs-assets/swagger-ui.css",
        ):
            assert client.get(path).status_code == 404, path
        user = sign_up(client, "ada@example.com", production)
        viewer = staff_headers(client, production, "viewer")  # health:read
        assert client.get("/metrics").status_code == 401
        wrong = bearer(SCRAPE_TOKEN[::-1])
        assert client.get("/metrics", headers=wrong).status_code == 401
        assert client.get("/metrics", headers=user).status_code == 403
        for allowed in (viewer, bearer(SCRAPE_TOKEN)):
            answer = client.get("/metrics", headers=allowed)
            assert answer.status_code == 200 and "aiadmin_http_requests_total" in answer.text
        assert client.get("/health").json() == {"status": "ok"}  # liveness stays public


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_production_may_open_them_again_and_development_has_them_open(settings):
    opened = _production(settings, api_docs=True, public_metrics=True)
    for configured in (opened, settings):
        with TestClient(create_app(configured)) as client:
            assert client.get("/openapi.json").status_code == 200
            assert client.get("/docs").status_code == 200
            assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_docs_pages_load_every_script_and_style_from_the_api_itself(client):
    """Offline, a page whose scripts come from a CDN is blank: each one the pages name is served here."""
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html.text)
        assert sources, page
        for source in sources:
            assert source.startswith("/"), f"{page} loads {source} from another host"
            served = client.get(source)
            assert served.status_code == 200 and len(served.content) > 1000, source
        assert "cdn" not in html.text.lower() and "fonts.googleapis" not in html.text
    assert (
        client.get("/docs-assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )
