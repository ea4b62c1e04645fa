"""A published world for tests that read the panel or the serving copy with data: a copy of the migrated
SQLite template, three users with activity through the live API, one pipeline run (extract, dbt build,
publish).

The world is built once per test run, whatever the number of xdist workers (`published_template`, under a file
lock), and each consumer gets its own copy of it (`published_world`, `published_copy`): a pipeline run is most
of what these tests would otherwise cost, and no consumer sees what another one changes."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance

import api.main
from api.core.settings import Settings, get_settings
from api.main import create_app
from pipelines.definitions import build_definitions
from pipelines.run import run_pipeline
from tests.conftest import TEST_SECRET, export_settings
from tests.support.api import LiveServer, completion_body, recording, sign_up
from warehouse.settings import WarehouseSettings, get_warehouse_settings

# Who signs up, and how many completions each makes (the tests count them in the marts and on the Overview).
ACTIVITY = {"ada@example.com": 2, "bob@example.com": 1, "cy@example.com": 1}
USERS = len(ACTIVITY)
CALLS = sum(ACTIVITY.values())
# Who scores their first completion, and how (decision 0054): no activity, so no other figure changes.
FEEDBACK = {"ada@example.com": {"rating": "up"}, "bob@example.com": {"value": 2}}

_BUILT = "built"  # written last: a template without it is a build that failed halfway


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory every worker of this test run shares (under xdist, each worker's base temporary directory
    is a folder of it), or the run's own one without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _settings(root: Path) -> Settings:
    return Settings(
        environment="test", secret_key=TEST_SECRET, data_dir=root / "var",
        database_url=f"sqlite:///{root / 'aiadmin.db'}", background_jobs=False,
    )  # fmt: skip


def published_template(shared: Path, sqlite_template: Path) -> Path:
    """The world, built by the first worker that asks for it; the others wait for it on the lock."""
    root = shared / "published-world"
    with open(shared / "published-world.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / _BUILT).exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            shutil.copyfile(sqlite_template, root / "aiadmin.db")
            with pytest.MonkeyPatch.context() as patch:
                _build(_settings(root), patch)
            # The settings the build read are not left cached for the next test to write into the template.
            get_settings.cache_clear()
            get_warehouse_settings.cache_clear()
            (root / _BUILT).touch()
    return root


def _build(settings: Settings, patch: pytest.MonkeyPatch) -> None:
    export_settings(settings, patch)
    # The mails the sign-ups' confirmations read are noted as sent (tests/support/api.py `MAILBOX`): a mail
    # delivered and wiped from the outbox before its link is read is found there (the tests' own `mailbox`
    # fixture, per test, is not set up yet when a session's fixture is built).
    patch.setattr(api.main, "make_sender", lambda s, make=api.main.make_sender: recording(make(s)))
    with LiveServer(create_app(settings)) as live_server, httpx.Client(base_url=live_server.url) as http:
        for email, calls in ACTIVITY.items():
            headers = sign_up(http, email, settings, country="DE")
            answers = [
                http.post("/v1/chat/completions", headers=headers, json=completion_body())
                for _ in range(calls)
            ]
            assert all(a.is_success for a in answers)
            if email in FEEDBACK:
                url = f"/v1/chat/completions/{answers[0].json()['id']}/feedback"
                assert http.post(url, headers=headers, json=FEEDBACK[email]).is_success
    with DagsterInstance.ephemeral() as instance:
        warehouse = WarehouseSettings(data_dir=settings.data_dir)
        assert run_pipeline(build_definitions(settings, warehouse), instance).success


def published_copy(template: Path, root: Path) -> Settings:
    """A copy of the world's database and data directory in `root`, and the settings that use it."""
    shutil.copytree(template, root, ignore=shutil.ignore_patterns(_BUILT, "*.lock"), dirs_exist_ok=True)
    return _settings(root)


@contextmanager
def published_world(
    root: Path, template: Path, patch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, LiveServer]]:
    """A copy of the world (exported as AIADMIN_* variables through `patch`) and a live API on it."""
    settings = published_copy(template, root)
    export_settings(settings, patch)
    with LiveServer(create_app(settings)) as live_server:
        yield settings, live_server
