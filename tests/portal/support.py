"""The portal's tests' world: the portal in a TestClient against the real API served by a live uvicorn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi.testclient import TestClient

from api.main import create_app as create_api
from portal.app import create_app as create_portal
from portal.session import SESSION_COOKIE, Keys
from portal.settings import PortalSettings
from tests.support.api import PASSWORD, LiveServer, sign_up

PORTAL = "http://portal.test"
KEY = "a-test-portal-key-of-enough-length"


@contextmanager
def portal_world(settings, tmp_path, **api_changes) -> Iterator[tuple[TestClient, httpx.Client, object]]:
    """The portal (a TestClient at PORTAL), an HTTP client of the live API, and the API's settings (its mail
    links pointing at the portal: AIADMIN_APP_URL; `api_changes` on top)."""
    api_settings = settings.model_copy(update={"app_url": PORTAL, **api_changes})
    # Waits, not speed limits (30 s for the test's own calls to the API, the portal's 30 s too): a machine
    # running the whole suite on every core may take more than httpx's default 5 s to hash a password.
    with LiveServer(create_api(api_settings)) as server, httpx.Client(base_url=server.url, timeout=30) as api:
        portal_settings = PortalSettings(
            api_url=server.url, portal_key=KEY, data_dir=tmp_path, api_timeout_seconds=30
        )
        with TestClient(create_portal(portal_settings), base_url=PORTAL) as portal:
            yield portal, api, api_settings


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, page.text
    return match.group(1)


def submit(portal: TestClient, path: str, action: str | None = None, **fields: str) -> httpx.Response:
    """Fill in and send the form of page `path` (to `action`, else `path`) as a browser does: the page (its
    CSRF token), then the POST."""
    token = csrf_of(portal.get(path))
    return portal.post(action or path, data={"csrf": token, **fields}, follow_redirects=False)


def signed_in(portal, api, settings, email: str = "ada@example.com") -> dict:
    """A confirmed account signed in to the portal: its session as the cookie holds it."""
    sign_up(api, email, settings)
    response = submit(portal, "/sign-in", email=email, password=PASSWORD)
    assert response.status_code == 303, response.text
    return session_of(portal)


def session_of(portal) -> dict:
    return Keys(KEY.encode()).open(portal.cookies[SESSION_COOKIE])
