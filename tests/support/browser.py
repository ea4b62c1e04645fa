"""Debian's chromium for the browser tests (the panel's and the portal's), driven by Playwright: never a
browser downloaded by a test tool (ARCHITECTURE.md, "The machine this is built on").

Without chromium a browser test module is skipped with the reason, unless AIADMIN_REQUIRE_BROWSER=1 (CI sets
it and installs Debian's chromium first), where a missing browser fails it. Screenshots go to
`$AIADMIN_TEST_ARTIFACTS/screenshots` (default `var/test-artifacts/screenshots`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
