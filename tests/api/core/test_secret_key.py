"""No public key signs anything: the old built-in key is refused everywhere, and an install with no
AIADMIN_SECRET_KEY makes its own once (a 0600 file under the data dir) that all its processes share."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import PIPE

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.core import keyfile
from api.core.crypto import Encryptor
from api.core.settings import DEV_SECRET_KEY, Settings
from api.main import create_app
from tests.support.api import bearer, sign_up

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_secret_in_env(monkeypatch):
    for name in ("AIADMIN_SECRET_KEY", "AIADMIN_ENCRYPTION_KEY", "AIADMIN_DATA_DIR", "AIADMIN_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_the_old_built_in_key_is_refused_in_every_environment(environment, tmp_path):
    with pytest.raises(ValidationError, match="AIADMIN_SECRET_KEY is the old built-in development key"):
        Settings(environment=environment, secret_key=DEV_SECRET_KEY, data_dir=tmp_path)


def test_production_without_a_secret_key_refuses_to_start_and_makes_no_key_file(no_secret_in_env, tmp_path):
    with pytest.raises(ValidationError, match="AIADMIN_SECRET_KEY is not set"):
        Settings(environment="production", data_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_a_fresh_install_makes_its_own_key_once_readable_by_its_owner_alone(no_secret_in_env, tmp_path):
    first = Settings(data_dir=tmp_path / "var")
    key_file = tmp_path / "var" / "secret_key"
    secret = first.secret_key.get_secret_value()
    assert secret != DEV_SECRET_KEY and len(secret) >= 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == secret
    again = Settings(data_dir=tmp_path / "var")  # a restart, or another process
    assert again.secret_key.get_secret_value() == secret
    # The encryption key derived from it is the same too: what it encrypted stays readable.
    assert Encryptor(again).decrypt(Encryptor(first).encrypt("provider key")) == "provider key"
    assert Settings(data_dir=tmp_path / "other").secret_key.get_secret_value() != secret  # per install


def test_a_key_file_others_can_read_or_an_empty_one_is_refused(no_secret_in_env, tmp_path):
    Settings(data_dir=tmp_path)
    key_file = tmp_path / "secret_key"
    key_file.chmod(0o644)
    with pytest.raises(ValidationError, match="readable by other users"):
        Settings(data_dir=tmp_path)
    key_file.write_text("")
    key_file.chmod(0o600)
    with pytest.raises(ValidationError, match="is empty"):
        Settings(data_dir=tmp_path)


# A process as the command line and the API start: its own interpreter, the settings from the environment;
# it says when its imports are done, then waits for the word to read its settings.
RACER = (
    "import sys; from api.core.settings import get_settings; print('ready', flush=True); "
    "sys.stdin.readline(); print(get_settings().secret_key.get_secret_value(), flush=True)"
)


def test_processes_starting_at_once_on_a_fresh_install_agree_on_one_key(no_secret_in_env, tmp_path):
    env = {**os.environ, "AIADMIN_DATA_DIR": str(tmp_path)}
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER], cwd=ROOT, env=env, stdin=PIPE, stdout=PIPE, text=True)
        for _ in range(8)
    ]
    for racer in racers:
        assert racer.stdout.readline().strip() == "ready"
    for racer in racers:  # all at once
        racer.stdin.write("go\n")
        racer.stdin.flush()
    keys = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(keys) == 1 and len(keys.pop()) >= 64
    # No candidate file left behind (the forwarders' keys, made the same way, beside the secret key).
    made = ["panel_key", "portal_forwarding_key", "secret_key"]
    assert sorted(p.name for p in tmp_path.iterdir()) in (["secret_key"], made)


def test_racers_that_all_find_no_key_file_still_agree_on_one_key(tmp_path):
    """The race made certain: every racer is past the look for the file before any has written one."""
    racers = 8
    all_looked = threading.Barrier(racers)
    candidates = iter(secrets.token_urlsafe(48) for _ in range(racers))
    lock = threading.Lock()

    def make() -> str:
        all_looked.wait(timeout=30)
        with lock:
            return next(candidates)

    with ThreadPoolExecutor(racers) as pool:
        keys = list(pool.map(lambda _: keyfile.read_or_create(tmp_path / "secret_key", make), range(racers)))
    assert len(set(keys)) == 1 and keys[0] == (tmp_path / "secret_key").read_text().strip()
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_token_signed_with_the_old_built_in_key_opens_nothing_on_an_install_left_at_its_defaults(
    no_secret_in_env, database_url, tmp_path
):
    """The attack the public key allowed: sign a token for someone else's account with it."""
    defaults = Settings(data_dir=tmp_path / "var", database_url=database_url, background_jobs=False)
    with TestClient(create_app(defaults)) as client:
        headers = sign_up(client, "ada@example.com", defaults)
        genuine = headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(genuine, options={"verify_signature": False})
        forged = jwt.encode(claims, DEV_SECRET_KEY, algorithm="HS256")
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401
