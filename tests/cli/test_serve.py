"""`aiadmin serve` (the end of `make run`): all three services answer, and Ctrl-C stops every one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.core.migrate import upgrade
from tests.support.api import free_port

ROOT = Path(__file__).resolve().parents[2]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_starts_api_dagster_and_panel_and_ctrl_c_stops_them_all(settings, tmp_path):
    upgrade(settings)
    api, dagster, panel = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "AIADMIN_DATA_DIR": str(settings.data_dir),
        "AIADMIN_DATABASE_URL": settings.database_url,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    argv = [str(Path(sys.executable).with_name("aiadmin")), "serve"]
    argv += ["--api-port", str(api), "--dagster-port", str(dagster), "--panel-port", str(panel)]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    health = [
        f"http://127.0.0.1:{api}/health",
        f"http://127.0.0.1:{dagster}/server_info",
        f"http://127.0.0.1:{panel}/_stcore/health",
    ]
    try:
        deadline = time.monotonic() + 180
        while not all(_answers(url) for url in health):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "services did not come up in 180 s"
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)

    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{panel}" in output and "admin@" in output
    assert "All services stopped." in output
    assert not any(_answers(url) for url in health)
