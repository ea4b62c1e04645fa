"""The portal forwards each end user's own address and browser to the API, signed with the portal's
forwarding key, and the API believes them only then (portal/forwarding.py, signed_origin,
docs/decisions/0051): per-address limits count users apart, sessions show the user's address."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi.testclient import TestClient

import signed_origin
from aiadmin.serve import services
from api.main import create_app as create_api
from portal.api_client import ApiClient
from portal.app import create_app as create_portal
from portal.forwarding import ForwardBrowser, origin_of
from portal.session import SESSION_COOKIE, Keys
from portal.settings import PortalSettings
from signed_origin import Origin
from tests.portal.support import KEY, PORTAL, submit
from tests.support.api import PASSWORD, LiveServer, bearer, sign_up, tokens

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
ATTACKER, NEIGHBOUR = "203.0.113.5", "198.51.100.9"


@contextmanager
def two_browsers(settings) -> Iterator[tuple[TestClient, TestClient, httpx.Client]]:
    """One portal, as `make run` sets it up (it reads the forwarding key the API made in the shared data
    directory), reached from two browsers at different addresses; and an HTTP client of the live API."""
    with LiveServer(create_api(settings)) as server, httpx.Client(base_url=server.url) as api:
        portal = create_portal(PortalSettings(api_url=server.url, portal_key=KEY, data_dir=settings.data_dir))
        with (
            TestClient(portal, base_url=PORTAL, client=(ATTACKER, 50000)) as attacker,
            TestClient(portal, base_url=PORTAL, client=(NEIGHBOUR, 50001)) as neighbour,
        ):
            yield attacker, neighbour, api


def current_session(api: httpx.Client, access_token: str) -> dict:
    (session,) = [
        s for s in api.get("/api/v1/me/sessions", headers=bearer(access_token)).json() if s["current"]
    ]
    return session


def test_failed_sign_ins_lock_out_the_attackers_address_not_every_portal_user(settings):
    assert settings.login_max_failures_per_ip == 20
    with two_browsers(settings) as (attacker, neighbour, api):
        sign_up(api, "ada@example.com", settings)
        for n in range(20):  # one address trying many emails: the per-address bucket fills
            refused = submit(attacker, "/sign-in", email=f"guess{n}@example.com", password="wrong-password")
            assert refused.status_code == 400 and "Wrong email or password." in refused.text
        locked = submit(attacker, "/sign-in", email="ada@example.com", password=PASSWORD)  # the 21st
        assert locked.status_code == 400 and "Too many attempts." in locked.text
        # X-Forwarded-For from a browser is not believed by a portal with no proxy of its own.
        attacker.headers["X-Forwarded-For"] = NEIGHBOUR
        spoofed = submit(attacker, "/sign-in", email="ada@example.com", password=PASSWORD)
        assert spoofed.status_code == 400 and "Too many attempts." in spoofed.text

        neighbour.headers["User-Agent"] = FIREFOX
        signed_in = submit(neighbour, "/sign-in", email="ada@example.com", password=PASSWORD)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/cabinet"
        access = Keys(KEY.encode()).open(neighbour.cookies[SESSION_COOKIE])["access"]
        session = current_session(api, access)
        assert (session["ip"], session["user_agent"]) == (NEIGHBOUR, FIREFOX)


def test_forwarded_headers_sent_straight_to_the_api_count_only_when_signed_with_the_portal_key(settings):
    login = "/api/v1/auth/login"
    body = {"email": "bo@example.com", "password": PASSWORD}
    with two_browsers(settings) as (_, _, api):
        sign_up(api, "bo@example.com", settings)

        def signed(key: str, ip: str = ATTACKER, at: float | None = None, **changes) -> dict[str, str]:
            origin, bound = signed_origin.Origin(ip, FIREFOX), signed_origin.Bound("POST", login)
            return signed_origin.sign(signed_origin.PORTAL, key, origin, bound, at) | changes

        def address(headers: dict[str, str]) -> str:
            answer = api.post(login, json=body, headers=headers)
            assert answer.status_code == 200, answer.text  # never a 500, whatever the headers hold
            return current_session(api, answer.json()["access_token"])["ip"]

        key = settings.portal_forwarding_key.get_secret_value()
        assert address(signed(key)) == ATTACKER  # the portal's own: believed
        peer = address({})
        assert peer != ATTACKER
        sig = signed_origin.PORTAL.signature
        forged = [
            {"X-Portal-IP": ATTACKER, "X-Portal-User-Agent": FIREFOX},  # unsigned
            signed(key) | {"X-Portal-IP": NEIGHBOUR},  # tampered with after signing
            signed("another-key-of-thirty-two-characters-or-more"),
            signed(settings.panel_key.get_secret_value()),  # the panel's key signs only X-Staff-*
            signed(key, ip="not-an-address"),
            signed(key, **{sig: "zz" * 40}),
            signed(key, **{signed_origin.PORTAL.timestamp: "yesterday"}),
            signed(key, at=time.time() - 3600),  # too old
        ]
        assert [address(headers) for headers in forged] == [peer] * len(forged)
        assert tokens(api, "bo@example.com")  # and nothing above locked anyone out


def test_make_run_serves_the_portal_without_uvicorns_own_proxy_headers():
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: a local client could choose the address
    the portal forwards."""
    (portal,) = [s for s in services("127.0.0.1", 8000, 3000, 8501) if s.name == "portal"]
    assert "--no-proxy-headers" in portal.argv


def test_the_address_forwarded_is_the_peer_unless_the_portal_is_told_of_its_proxies():
    def scope(peer: str, *headers: tuple[bytes, bytes]) -> dict:
        return {"type": "http", "client": (peer, 50000), "headers": list(headers)}

    chain = (b"x-forwarded-for", b"192.0.2.66, 203.0.113.5")  # the browser wrote the first entry
    agent = (b"user-agent", "Mozilla/5.0 (Straße)\x07".encode())
    assert origin_of(scope("10.0.0.2", chain, agent), 0) == Origin("10.0.0.2", "Mozilla/5.0 (Stra??e)?")
    assert origin_of(scope("10.0.0.2", chain), 1) == Origin("203.0.113.5", "")
    assert origin_of(scope("10.0.0.2", chain), 3) == Origin("10.0.0.2", "")  # fewer entries than proxies
    assert origin_of(scope("testclient"), 0) is None  # not an address: nothing forwarded
    assert origin_of({"type": "http", "headers": []}, 0) is None


def test_every_call_the_portal_makes_streamed_or_not_is_signed_for_the_browser_it_serves():
    """`ApiClient.sign` is what `call` and the tools' streamed completion (portal/tools.py) both send
    through: the headers verify for that request only, and nothing is added outside a served request."""
    key = "a-portal-forwarding-key-of-32-characters"
    api = ApiClient("http://api.test", 5, lambda: key)
    request = httpx.Request("POST", "http://api.test/v1/chat/completions?x=%2F", headers=bearer("tok"))
    assert "X-Portal-Signature" not in api.sign(request).headers  # no browser being served

    async def served(scope, receive, send):
        api.sign(request)

    scope = {"type": "http", "client": (ATTACKER, 1), "headers": [(b"user-agent", FIREFOX.encode())]}
    asyncio.run(ForwardBrowser(served)(scope, None, None))
    bound = signed_origin.Bound("POST", "/v1/chat/completions?x=%2F", "Bearer tok")
    origin = signed_origin.verified(signed_origin.PORTAL, request.headers, key, time.time(), bound)
    assert origin == Origin(ATTACKER, FIREFOX)
    elsewhere = signed_origin.Bound("POST", "/v1/chat/completions", "Bearer tok")
    assert signed_origin.verified(signed_origin.PORTAL, request.headers, key, time.time(), elsewhere) is None
