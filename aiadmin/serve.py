"""`make run`: start the API, the Dagster webserver and daemon, the fresh lane's watcher and the panel;
stop them on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Service:
    name: str
    url: str | None
    argv: list[str]


def services(host: str, api_port: int, dagster_port: int, panel_port: int) -> list[Service]:
    workspace = str(ROOT / "workspace.yaml")
    return [
        Service(
            "api",
            f"http://{host}:{api_port}/docs",
            # No proxy headers: uvicorn would trust X-Forwarded-For from 127.0.0.1, letting a local client
            # choose its address; the app reads it itself (AIADMIN_TRUSTED_PROXIES, api/core/deps.py).
            [
                str(BIN / "uvicorn"),
                "api.main:app",
                "--host",
                host,
                "--port",
                str(api_port),
                "--no-proxy-headers",
            ],
        ),
        Service(
            "dagster-webserver",
            f"http://{host}:{dagster_port}",
            [str(BIN / "dagster-webserver"), "-w", workspace, "-h", host, "-p", str(dagster_port)],
        ),
        Service("dagster-daemon", None, [str(BIN / "dagster-daemon"), "run", "-w", workspace]),
        # New events into the serving copy within seconds (pipelines/watch.py); the daemon's runs do the rest.
        Service("pipeline-watch", None, [str(BIN / "aiadmin"), "pipeline", "watch"]),
        Service(
            "panel",
            f"http://{host}:{panel_port}",
            [
                str(BIN / "streamlit"),
                "run",
                str(ROOT / "dashboard" / "app.py"),
                "--server.address",
                host,
                "--server.port",
                str(panel_port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--client.toolbarMode",
                "viewer",  # the menu keeps Settings: the light or dark theme
            ],
        ),
    ]


def supervise(specs: list[Service], env: dict[str, str], banner: str) -> int:
    """Run every service; when one exits or Ctrl-C comes, stop all of them and wait for them."""
    procs: list[tuple[Service, subprocess.Popen]] = []
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for spec in specs:
            # Each child in its own process group: Ctrl-C reaches only us, and we stop them in order.
            proc = subprocess.Popen(spec.argv, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603 (argv from constants)
            procs.append((spec, proc))
        print(banner, flush=True)
        exit_code = 0
        while not stopping:
            for spec, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"\n{spec.name} exited with code {proc.returncode}; stopping the others.", flush=True
                    )
                    exit_code = proc.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        return exit_code
    finally:
        print("\nStopping…", flush=True)
        for _spec, proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for spec, proc in reversed(procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{spec.name} did not stop in time; killing it.", flush=True)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        print("All services stopped.", flush=True)
