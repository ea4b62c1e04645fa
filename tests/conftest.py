"""Fixtures: a freshly migrated database per test, on SQLite or PostgreSQL or both.

A test that uses the database runs once, on ONE_DATABASE, unless its behaviour depends on
which database it is: then it is marked `both_databases` and runs on SQLite and on a real PostgreSQL (see
`pytest_generate_tests`). A test may also name its database itself with
`@pytest.mark.parametrize("database_url", [...], indirect=True)`.

PostgreSQL is required: set AIADMIN_TEST_POSTGRES_URL (default: the local server) to an admin URL
the tests may create databases with. Only `AIADMIN_TEST_POSTGRES_URL=skip` skips those tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from argon2 import PasswordHasher
from dagster import DagsterInstance
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.auth import credentials
from api.core.migrate import upgrade
from api.core.settings import Settings, get_settings
from api.core.types import use_clock
from api.main import create_app
from pipelines.definitions import build_definitions
from pipelines.run import run_pipeline
from tests.support.api import MAILBOX, Clock, LiveServer, recording
from warehouse.settings import WarehouseSettings, get_warehouse_settings

# Password and recovery-code hashing: argon2id at OWASP's parameters (19 MiB, two passes, in
# api/auth/credentials.py) costs 20-80 ms of CPU a hash, and the suite hashes thousands (each sign-up and
# sign-in, ten recovery codes per staff member): minutes of its time. Its processes hash with argon2id at the
# lowest cost instead (the same code, format and checks); `production_hashing` puts OWASP's parameters back
# for the tests of them, and the servers and commands the tests start as processes of their own hash as
# production does.
PRODUCTION_HASHER = credentials._hasher
credentials._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def production_hashing(monkeypatch) -> None:
    monkeypatch.setattr(credentials, "_hasher", PRODUCTION_HASHER)


# httpx waits 5 s for an answer unless told otherwise; under the whole suite's load on 2 cores a live
# server's answer (a sign-up, a SQLite write waiting for the lock) has taken longer, and the test failed on
# a ReadTimeout that says nothing about the code. A client a test makes without a timeout waits 30 s
# instead: a hang still fails, later. Clients that name their timeout (the official openai client, tests
# of timeouts) keep theirs.
_httpx_client_init = httpx.Client.__init__


def _patient_client_init(self, *args, timeout=httpx.Timeout(30.0), **kwargs) -> None:
    _httpx_client_init(self, *args, timeout=timeout, **kwargs)


httpx.Client.__init__ = _patient_client_init

# The tests' mock LLM provider and webhook receivers listen on 127.0.0.1: the one private address the API
# may call in tests (api/core/egress.py). Set here, once, before any settings are made, so every Settings of
# the suite and every API process a test starts reads it; a test of the refusal passes its own list.
os.environ["AIADMIN_ALLOWED_PRIVATE_NETWORKS"] = "127.0.0.1"

POSTGRES_URL = os.environ.get("AIADMIN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def _pg_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _pg_admin() -> psycopg.Connection:
    url = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(Settings(environment="test", secret_key=TEST_SECRET, database_url=f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def published_template(tmp_path_factory, sqlite_template) -> Path:
    """Three users with activity, published by one pipeline run: built once per test run for every worker
    (tests/support/world.py); a test copies it (`published_copy`, `published_world`), never changes it."""
    from tests.support.world import published_template, shared_root

    return published_template(shared_root(tmp_path_factory), sqlite_template)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if POSTGRES_URL == "skip":
        pytest.skip("AIADMIN_TEST_POSTGRES_URL=skip: PostgreSQL tests not run")
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL} (set AIADMIN_TEST_POSTGRES_URL): {exc}")
    name = f"aiadmin_template_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade(Settings(environment="test", secret_key=TEST_SECRET, database_url=_pg_url(name)))
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# The database of a test whose behaviour does not depend on it. SQLite: a copy of a migrated file costs
# well under a millisecond where a PostgreSQL database cloned from the migrated template costs 0.3-1.6 s
# (created and dropped, fsync on), and the API's code above the session is the same on both.
ONE_DATABASE = "sqlite"
BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test that uses `database_url` runs on ONE_DATABASE, or on both when marked `both_databases`,
    unless it parametrizes `database_url` itself."""
    if "database_url" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if "database_url" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return
    both = metafunc.definition.get_closest_marker("both_databases") is not None
    metafunc.parametrize("database_url", BOTH_DATABASES if both else [ONE_DATABASE], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the reliability suite `reliability`: `make test-long` selects it with the `long` tests."""
    for item in items:
        if item.nodeid.startswith("tests/reliability/"):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def database_url(request, tmp_path) -> Iterator[str]:
    """A freshly migrated, empty database of the kind the test is parametrized with."""
    if request.param == "sqlite":
        path = tmp_path / "aiadmin.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with postgres_database(request.getfixturevalue("pg_template")) as url:
        yield url


@contextmanager
def postgres_database(template: str) -> Iterator[str]:
    """A fresh PostgreSQL database made from the migrated template, dropped afterwards."""
    name = f"aiadmin_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The API's "now" held by the test (tests/support/api.py `Clock`): moved with `clock.advance(...)`."""
    held = Clock()
    use_clock(held)
    try:
        yield held
    finally:
        use_clock(None)


@pytest.fixture(autouse=True)
def mailbox(monkeypatch) -> Iterator[list]:
    """Every app made in the test notes what its mail sender delivered (tests/support/api.py `MAILBOX`):
    a sent mail's body is wiped from the outbox, and tests read the links they follow from here."""
    import api.main

    make_sender = api.main.make_sender
    monkeypatch.setattr(api.main, "make_sender", lambda settings: recording(make_sender(settings)))
    MAILBOX.clear()
    yield MAILBOX
    MAILBOX.clear()


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        data_dir=tmp_path / "var",
        database_url=database_url,
        background_jobs=False,  # tests run the jobs themselves, or turn them on
    )


@pytest.fixture
def warehouse_settings(settings) -> WarehouseSettings:
    return WarehouseSettings(data_dir=settings.data_dir)


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def live_server(settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings)) as server:
        yield server


def export_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`settings` as AIADMIN_* variables (undone with `monkeypatch`), for code that reads its own settings."""
    monkeypatch.setenv("AIADMIN_ENVIRONMENT", settings.environment)
    monkeypatch.setenv("AIADMIN_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("AIADMIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AIADMIN_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    get_warehouse_settings.cache_clear()


@pytest.fixture
def env_settings(settings, monkeypatch) -> Settings:
    """Export the test settings as AIADMIN_* variables, for code that reads its own settings."""
    export_settings(settings, monkeypatch)
    yield settings
    get_settings.cache_clear()
    get_warehouse_settings.cache_clear()


@pytest.fixture
def pipeline(settings, warehouse_settings):
    """Run the whole pipeline (extract, dbt build + checks, publish) for the test's database."""
    definitions = build_definitions(settings, warehouse_settings)

    def run():
        with DagsterInstance.ephemeral() as instance:
            return run_pipeline(definitions, instance)

    return run
