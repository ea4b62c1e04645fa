"""A published world for tests that read the panel with data: a copy of the migrated SQLite template, three
users with activity through the live API, one pipeline run (extract, dbt build, publish). Shared by a module's
tests (tests/e2e/test_panel_browser.py, tests/dashboard/test_navigation.py): its pipeline run is most of
their time."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance

from api.core.settings import Settings
from api.main import create_app
from pipelines.definitions import build_definitions
from pipelines.run import run_pipeline
from tests.conftest import TEST_SECRET, export_settings
from tests.support.api import LiveServer, completion_body, sign_up
from warehouse.settings import WarehouseSettings

# Who signs up, and how many completions each makes (the browser tests count them on the Overview).
ACTIVITY = {"ada@example.com": 2, "bob@example.com": 1, "cy@example.com": 1}


@contextmanager
def published_world(
    root: Path, sqlite_template: Path, patch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, LiveServer]]:
    """The world's settings (exported as AIADMIN_* variables through `patch`) and its live API."""
    database = root / "aiadmin.db"
    shutil.copyfile(sqlite_template, database)
    settings = Settings(
        environment="test", secret_key=TEST_SECRET, data_dir=root / "var",
        database_url=f"sqlite:///{database}", background_jobs=False,
    )  # fmt: skip
    export_settings(settings, patch)
    with LiveServer(create_app(settings)) as live_server:
        with httpx.Client(base_url=live_server.url) as http:
            for email, calls in ACTIVITY.items():
                headers = sign_up(http, email, settings, country="DE")
                for _ in range(calls):
                    body = completion_body()
                    assert http.post("/v1/chat/completions", headers=headers, json=body).is_success
        with DagsterInstance.ephemeral() as instance:
            run_pipeline(build_definitions(settings, WarehouseSettings(data_dir=settings.data_dir)), instance)
        yield settings, live_server
