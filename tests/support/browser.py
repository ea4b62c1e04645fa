"""Debian's chromium for the browser tests (the panel's and the portal's), driven by Playwright: never a
browser downloaded by a test tool (ARCHITECTURE.md, "The machine this is built on").

Without chromium a browser test module is skipped with the reason, unless AIADMIN_REQUIRE_BROWSER=1 (CI sets
it and installs Debian's chromium first), where a missing browser fails it. Screenshots go to
`$AIADMIN_TEST_ARTIFACTS/screenshots` (default `var/test-artifacts/screenshots`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aiadmin.serve import panel_argv
from tests.support.api import PASSWORD, free_port, staff_member

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("AIADMIN_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "screenshots"


def require_chromium() -> None:
    """Called at the top of a browser test module, before it imports Playwright."""
    if CHROMIUM is None:
        if os.environ.get("AIADMIN_REQUIRE_BROWSER") == "1":
            pytest.fail("AIADMIN_REQUIRE_BROWSER=1 and Debian's chromium is missing", pytrace=False)
        pytest.skip("no chromium on this machine: `apt-get install chromium` to run the browser tests",
                    allow_module_level=True)  # fmt: skip


def launch(playwright):
    """Debian's chromium, headless (no sandbox: CI runs as root)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


class PanelServer:
    """`streamlit run dashboard/app.py` on a free port, talking to the live API at `api_url`."""

    def __init__(self, api_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AIADMIN_API_URL": api_url, "AIADMIN_DATA_DIR": str(data_dir)}
        # As `make run` starts it (aiadmin/serve.py): the same options, errors shown without tracebacks.
        argv = panel_argv("127.0.0.1", self.port)
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def __enter__(self) -> PanelServer:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=1).text == "ok":
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.process.kill()
        raise RuntimeError(f"streamlit did not start: {self.process.stdout.read().decode()[-2000:]}")

    def __exit__(self, *_exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def panel_sign_in(page, panel_url: str, api_url: str, settings, email: str) -> None:
    """Sign in to the panel as a new admin `email` (made now, with its authenticator): the Overview shows."""
    from playwright.sync_api import expect

    def enrol():
        with httpx.Client(base_url=api_url) as http:
            return staff_member(http, settings, "admin", email)[1]

    with ThreadPoolExecutor(1) as thread:  # off Playwright's event loop: the account is made with asyncio.run
        totp = thread.submit(enrol).result()
    page.goto(panel_url)
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    # The code used to enrol may not be used again: the next one (the API accepts one step ahead).
    code = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    page.get_by_role("textbox", name=re.compile("authenticator")).fill(code)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
