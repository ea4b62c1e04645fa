"""Panel tests: pages run by Streamlit's AppTest against a live API, signed in as a real staff member."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import streamlit as st
from streamlit.components.v2 import manifest_scanner
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest, app_test, local_script_runner

from dashboard.api_client import ApiClient, StaffSession
from dashboard.settings import get_dashboard_settings
from tests.support.api import PASSWORD, next_code, staff_member

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ROOT / "dashboard" / "app_pages"
ROLES = ("admin", "moderator", "analyst", "viewer")


class _SharedScriptCache(ScriptCache):
    """One cache of compiled page scripts for every AppTest of the process, as a Streamlit server keeps one
    for all of its sessions: a page is compiled (and its "magic" added) once, not at each run, and again when
    its file changes."""

    def __init__(self) -> None:
        super().__init__()
        self._compiled_from: dict[str, tuple[int, int]] = {}

    def get_bytecode(self, script_path: str) -> Any:
        path = os.path.abspath(script_path)
        found = os.stat(path)
        stamp = (found.st_mtime_ns, found.st_size)
        with self._lock:
            if self._compiled_from.get(path) != stamp:
                self._cache.pop(path, None)
                self._compiled_from[path] = stamp
        return super().get_bytecode(path)


@pytest.fixture(scope="session", autouse=True)
def _streamlit_work_done_once() -> Iterator[None]:
    """What each AppTest run would do again for nothing, done once a process:
    - at its first run, each AppTest looks for Streamlit components in every installed package's metadata
      (streamlit/components/v2/manifest_scanner.py: ~200 METADATA files parsed, 0.2-0.5 s of CPU a page
      object, most of a page run here); the packages do not change during a test run, so the same list of
      components is registered for every AppTest;
    - each run compiles the page's script anew (a fresh ScriptCache a run): `_SharedScriptCache` instead."""
    scan = manifest_scanner.scan_component_manifests
    found: list = []

    def scanned_once(max_workers: int | None = None) -> list:
        if not found:
            found.append(scan(max_workers))
        return list(found[0])

    shared = _SharedScriptCache()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_scanner, "scan_component_manifests", scanned_once)
        patch.setattr(app_test, "ScriptCache", lambda: shared)
        patch.setattr(local_script_runner, "ScriptCache", lambda: shared)
        yield


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches():
    st.cache_data.clear()
    get_dashboard_settings.cache_clear()
    yield
    get_dashboard_settings.cache_clear()


def sign_in_staff(
    settings,
    api_url: str,
    role: str,
    email: str | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> StaffSession:
    """A staff member of `role` signed in through the API as the panel does: enrolled in TOTP first (every
    staff role must be), then signed in with a code. `clock`: the panel's "now" (the test's `clock`)."""
    email = email or f"{role}@example.com"
    with httpx.Client(base_url=api_url, timeout=60) as http:  # a wait, not a speed limit (5 s by default)
        _, totp = staff_member(http, settings, role, email)
    # The code just used may not be used again: sign in with the next one (the API accepts one step ahead).
    client = ApiClient(api_url, clock=clock) if clock else ApiClient(api_url)
    return client.login(email, PASSWORD, next_code(totp))


class StaffSessions(dict):
    """Staff sessions by role against one API, each role signed in (`sign_in_staff`) at its first use and
    then kept: `sessions["analyst"]`."""

    def __init__(self, settings, api_url: str) -> None:
        super().__init__()
        self.settings, self.api_url = settings, api_url

    def __missing__(self, role: str) -> StaffSession:
        self[role] = session = sign_in_staff(self.settings, self.api_url, role)
        return session


def open_tab(app: AppTest, key: str):
    """The tab the browser is told to show, of the tabs `key` (dashboard/ui.py `kept_tabs`)."""
    (tabs,) = [node for node in app._tree if getattr(node, "type", "") == "tab_container" and node.key == key]
    return list(tabs.children.values())[tabs.proto.tab_container.default_tab_index]


@pytest.fixture
def panel(env_settings, live_server, monkeypatch) -> Callable[..., AppTest]:
    """`panel("users", role="admin", locale="en")`: that page run by AppTest, signed in as that role
    (staff accounts are made once per role per test), against the live API."""
    monkeypatch.setenv("AIADMIN_API_URL", live_server.url)
    sessions = StaffSessions(env_settings, live_server.url)

    def open_page(page: str, *, role: str = "admin", locale: str = "en", timeout: float = 60) -> AppTest:
        app = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=timeout)
        app.session_state["staff"] = sessions[role]
        app.session_state["locale"] = locale
        return app.run()

    open_page.api_url = live_server.url
    open_page.sessions = sessions
    return open_page
