"""Brute force: failed logins are throttled per email and per client IP, with no enumeration."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.support.api import PASSWORD, event_counts, sign_up, tokens

# Both databases: failed logins are counted over a time window in SQL.
pytestmark = pytest.mark.both_databases


def _attempt(client, email: str, password: str = "wrong-password", ip: str | None = None):
    headers = {"X-Forwarded-For": f"{ip}, 10.0.0.1"} if ip else {}
    return client.post("/api/v1/auth/login", json={"email": email, "password": password}, headers=headers)


def test_the_sixth_failure_in_a_row_is_a_429_with_retry_after_even_with_the_right_password(client, settings):
    sign_up(client, "ada@example.com")
    for _ in range(5):
        assert _attempt(client, "ada@example.com").status_code == 401
    locked = _attempt(client, "ada@example.com", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert event_counts(settings)["security.lockout"] == 1


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(client, settings):
    sign_up(client, "ada@example.com")
    known = [_attempt(client, "ada@example.com") for _ in range(6)]
    unknown = [_attempt(client, "nobody@example.com") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [429]
    assert known[-1].json() == unknown[-1].json()


def test_a_success_starts_the_count_again(client):
    sign_up(client, "ada@example.com")
    for _ in range(4):
        _attempt(client, "ada@example.com")
    assert tokens(client, "ada@example.com")["access_token"]
    for _ in range(4):
        assert _attempt(client, "ada@example.com").status_code == 401
    assert tokens(client, "ada@example.com")["access_token"]


def test_one_ip_trying_many_emails_is_throttled_by_the_trusted_proxy_header(settings):
    # Two proxies: the client's address is the second entry from the right (`_attempt`'s header).
    proxied = settings.model_copy(update={"trusted_proxies": 2, "login_max_failures_per_ip": 8})
    with TestClient(create_app(proxied)) as client:
        statuses = [
            _attempt(client, f"victim{n}@example.com", ip="203.0.113.7").status_code for n in range(9)
        ]
        other_ip = _attempt(client, "victim0@example.com", ip="198.51.100.2")
    assert statuses == [401] * 8 + [429]
    assert other_ip.status_code == 401  # another address is not affected


def test_without_a_configured_proxy_header_a_client_cannot_choose_its_ip(client):
    for n in range(25):
        _attempt(client, f"victim{n}@example.com", ip=f"203.0.113.{n}")
    # The header is ignored: all 25 came from the one TCP peer, so the per-IP limit (20) applies.
    assert _attempt(client, "someone@example.com", ip="198.51.100.2").status_code == 429
