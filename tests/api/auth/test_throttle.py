"""Brute force: password and code checks are throttled per account and source together, per source, and per
account from unusual sources, with back-off; atomically under a burst; with no enumeration."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.support.api import PASSWORD, enrol_two_factor, event_counts, events_of, sign_up, tokens

# Both databases: attempts are counted over a time window by a conditional upsert.
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


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(client, settings, clock):
    # The held clock: the answers (Retry-After included) may differ in nothing, however slow the machine.
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


def test_thirty_simultaneous_wrong_logins_get_five_checks(live_server, settings):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        sign_up(http, "ada@example.com", settings)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=120) as http:
            body = {"email": "ada@example.com", "password": "wrong-password"}
            responses = await asyncio.gather(*(http.post("/api/v1/auth/login", json=body) for _ in range(30)))
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    checked = [e for e in events_of(settings, "user.login_failed") if e.error_code == "invalid_credentials"]
    assert len(checked) == 5
    assert sorted(statuses) == [401] * 5 + [429] * 25


def _proxied(settings):
    return TestClient(create_app(settings.model_copy(update={"trusted_proxies": 2})))


HOME = "198.51.100.2"  # where the owner signs in from


def test_a_stranger_hammering_from_elsewhere_cannot_lock_the_owner_out(settings, clock):
    with _proxied(settings) as client:
        sign_up(client, "ada@example.com")  # signs in from the test client's address
        assert _attempt(client, "ada@example.com", PASSWORD, ip=HOME).status_code == 200
        # One address, then forty (a botnet): every guess after the limits is refused unchecked.
        one = [_attempt(client, "ada@example.com", ip="203.0.113.7").status_code for _ in range(30)]
        assert one == [401] * 5 + [429] * 25
        many = [_attempt(client, "ada@example.com", ip=f"192.0.2.{n}").status_code for n in range(40)]
        assert many.count(401) == 20 - 5 and many.count(429) == 40 - 15
        assert _attempt(client, "ada@example.com", PASSWORD, ip=HOME).status_code == 200
        # From an address the owner never used, the account stays closed for the lockout.
        assert _attempt(client, "ada@example.com", PASSWORD, ip="192.0.2.200").status_code == 429


def test_a_stranger_with_the_password_guessing_codes_from_elsewhere_cannot_lock_the_owner_out(
    settings, clock
):
    with _proxied(settings) as client:
        headers = sign_up(client, "ada@example.com")
        totp, _ = enrol_two_factor(client, headers)
        first = {"email": "ada@example.com", "password": PASSWORD, "otp": totp.at(clock.advance(seconds=30))}
        assert client.post("/api/v1/auth/login", json=first, headers=_from(HOME)).status_code == 200
        for n in range(40):
            body = {"email": "ada@example.com", "password": PASSWORD, "otp": f"{n:06d}"}
            assert client.post(
                "/api/v1/auth/login", json=body, headers=_from(f"192.0.2.{n}")
            ).status_code in (401, 429)
        guessed = [e for e in events_of(settings, "user.login_failed") if e.error_code == "invalid_otp"]
        assert len(guessed) == 20  # codes checked from elsewhere: the account's limit from unusual sources
        owner = {"email": "ada@example.com", "password": PASSWORD, "otp": totp.at(clock.advance(seconds=30))}
        assert client.post("/api/v1/auth/login", json=owner, headers=_from(HOME)).status_code == 200


def _from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"{ip}, 10.0.0.1"}


def test_each_lockout_of_one_source_lasts_twice_as_long_as_the_one_before(client, clock):
    sign_up(client, "ada@example.com")
    for lasts in (15, 30, 60):
        assert [_attempt(client, "ada@example.com").status_code for _ in range(5)] == [401] * 5
        locked = _attempt(client, "ada@example.com", PASSWORD)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == lasts * 60
        clock.advance(minutes=lasts - 1)
        assert _attempt(client, "ada@example.com", PASSWORD).status_code == 429
        clock.advance(minutes=1)
    assert tokens(client, "ada@example.com")["access_token"]  # and a success forgets the lockouts
    assert [_attempt(client, "ada@example.com").status_code for _ in range(6)] == [401] * 5 + [429]
    assert int(_attempt(client, "ada@example.com").headers["Retry-After"]) == 15 * 60


def test_a_stolen_access_token_cannot_guess_the_password_at_change_password_unthrottled(client, settings):
    stolen = sign_up(client, "ada@example.com")
    guesses = [
        client.post(
            "/api/v1/auth/change-password",
            headers=stolen,
            json={"current_password": f"guess-{n}", "new_password": "a-new-long-password"},
        ).status_code
        for n in range(6)
    ]
    assert guesses == [400] * 5 + [429]
    assert event_counts(settings)["security.password_changed"] == 5  # each refusal logged, as before
