"""`aiadmin serve` (`make run`): one supervisor per data directory that stops everything it started, whatever
stops it (Ctrl-C, a closed terminal, SIGTERM, SIGKILL) or when one service dies; and the real services come up
and go down with it.

Most tests run the supervisor over small stand-in services (real processes, each with a child of its own, so
a leftover grandchild would show); one starts the real API, Dagster and panel."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
import pytest

from aiadmin import serve
from api.core.migrate import upgrade
from tests.support.api import free_port

ROOT = Path(__file__).resolve().parents[2]
AIADMIN = str(Path(sys.executable).with_name("aiadmin"))
GRACE = 2.0

# A stand-in service: `python -c SERVICE <pid file> <kind> [<file to wait for>]`. It starts a child of its own
# (`sleep`, in its process group), then writes "<its pid> <child pid>" and waits for a signal. "stubborn"
# ignores SIGTERM (and so does its child); "crash" exits with code 3 once the other service is up.
SERVICE = """
import os, signal, subprocess, sys, time
from pathlib import Path
pid_file, kind = Path(sys.argv[1]), sys.argv[2]
if kind == "crash":
    while not Path(sys.argv[3]).exists():
        time.sleep(0.05)
    sys.exit(3)
if kind == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "600"])
pid_file.with_suffix(".tmp").write_text(f"{os.getpid()} {child.pid}")
pid_file.with_suffix(".tmp").rename(pid_file)
while True:
    signal.pause()
"""

# The supervisor over stand-ins: `python -c SUPERVISOR <data dir> <pid dir> <kind>...`, as `aiadmin serve`
# runs it (serve.run), with a banner that says "ready".
SUPERVISOR = """
import os, sys
from pathlib import Path
from aiadmin import serve
data_dir, pids, kinds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
specs = [
    serve.Service(f"{kind}-{n}", f"http://fake/{n}", [sys.executable, "-c", os.environ["SERVICE"],
                  str(pids / f"{n}.pid"), kind, str(pids / "0.pid")])
    for n, kind in enumerate(kinds)
]
parent = serve.stop_with_parent() if os.environ.get("STOP_WITH_PARENT") else None  # as `make run` asks
grace = float(os.environ["GRACE"])
sys.exit(serve.run(data_dir, specs, dict(os.environ), "ready", grace=grace, parent=parent))
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that may never come is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


def _wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.05)


class Stand:
    """A supervisor over stand-in services, in its own session (as a terminal's foreground job would be)."""

    def __init__(self, tmp_path: Path, *kinds: str, data_dir: Path | None = None, **popen) -> None:
        self.data_dir = data_dir or tmp_path / "var"
        self.pids = tmp_path / f"pids-{len(list(tmp_path.glob('pids-*')))}"
        self.pids.mkdir()
        self.kinds = kinds
        env = {**os.environ, "SERVICE": SERVICE, "GRACE": str(GRACE)}
        argv = [sys.executable, "-c", SUPERVISOR, str(self.data_dir), str(self.pids), *kinds]
        popen = popen or {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "start_new_session": True}
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, text=True, **popen)

    def processes(self) -> list[int]:
        """Every stand-in service and its child, once all have written their pid files."""
        files = [self.pids / f"{n}.pid" for n, kind in enumerate(self.kinds) if kind != "crash"]
        _wait_until(lambda: all(f.exists() for f in files), 30, "every stand-in service started")
        return [int(pid) for f in files for pid in f.read_text().split()]

    def output(self) -> str:
        return self.proc.communicate(timeout=30)[0]


def test_ctrl_c_stops_every_service_and_what_each_started(tmp_path):
    stand = Stand(tmp_path, "plain", "plain")
    pids = stand.processes()
    assert all(_alive(pid) for pid in pids)
    stand.proc.send_signal(signal.SIGINT)
    output = stand.output()
    assert stand.proc.returncode == 0, output
    assert "ready" in output and "All services stopped." in output
    assert not any(_alive(pid) for pid in pids)


def test_sigterm_stops_a_service_that_ignores_it_with_sigkill_after_the_grace_period(tmp_path):
    stand = Stand(tmp_path, "plain", "stubborn")
    pids = stand.processes()
    started = time.monotonic()
    stand.proc.terminate()
    output = stand.output()
    assert time.monotonic() - started < GRACE + 10
    assert "stubborn-1 did not stop in 2 s; killing it." in output
    assert stand.proc.returncode == 0 and "All services stopped." in output
    assert not any(_alive(pid) for pid in pids)


def test_closing_the_terminal_stops_every_service(tmp_path):
    """The supervisor's terminal hangs up (its window closed): SIGHUP, and nowhere left to print."""
    terminal, tty = pty.openpty()

    def take_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    stand = Stand(
        tmp_path,
        "plain",
        "plain",
        stdin=tty,
        stdout=tty,
        stderr=tty,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(tty)
    shown = b""
    deadline = time.monotonic() + 30
    while b"ready" not in shown:  # the banner, read before the window closes
        assert time.monotonic() < deadline, shown
        if select.select([terminal], [], [], 1)[0]:
            shown += os.read(terminal, 4096)
    pids = stand.processes()
    os.close(terminal)
    assert stand.proc.wait(timeout=30) == 0
    assert not any(_alive(pid) for pid in pids)


def test_sigkill_of_the_supervisor_leaves_nothing_running_and_frees_the_data_directory(tmp_path):
    stand = Stand(tmp_path, "plain", "stubborn")
    pids = stand.processes()
    stand.proc.kill()
    stand.proc.wait(timeout=10)
    _wait_until(
        lambda: not any(_alive(pid) for pid in pids), GRACE + 10, "the watchdog stopped every service"
    )
    # The watchdog held the lock until it was done: the next supervisor starts.
    again = Stand(tmp_path, "plain", data_dir=stand.data_dir)
    again.processes()
    again.proc.send_signal(signal.SIGINT)
    assert "All services stopped." in again.output()


def test_a_service_that_dies_stops_the_others_with_a_message_and_its_exit_code(tmp_path):
    stand = Stand(tmp_path, "plain", "crash")
    pids = stand.processes()
    output = stand.output()
    assert stand.proc.returncode == 3, output
    assert "crash-1 exited with code 3; stopping the others." in output
    assert not any(_alive(pid) for pid in pids)


def test_a_second_supervisor_for_the_same_data_directory_says_who_runs_and_starts_nothing(tmp_path):
    first = Stand(tmp_path, "plain")
    first.processes()
    second = Stand(tmp_path, "plain", data_dir=first.data_dir)
    output = second.output()
    assert second.proc.returncode == 1
    assert f"aiadmin serve is already running for {first.data_dir} (pid {first.proc.pid}" in output
    assert "plain-0 http://fake/0" in output
    assert not list(second.pids.iterdir())  # nothing of the second one started
    first.proc.send_signal(signal.SIGINT)
    assert first.proc.wait(timeout=30) == 0


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_stopping_make_alone_stops_the_supervisor_and_every_service(tmp_path, signum):
    """`make run` is a real make whose recipe is the supervisor (`--stop-with-parent`). Make forwards only
    SIGTERM to it; on SIGHUP or SIGINT sent to make alone (not its terminal's group) make waits for the
    recipe, and on SIGKILL it is gone: each time the supervisor stops everything (docs/decisions/0046)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "supervisor.py"
    script.write_text(SUPERVISOR)
    (tmp_path / "Makefile").write_text(
        f"SHELL := /bin/bash\nrun:\n\t{sys.executable} {script} {tmp_path / 'var'} {pids} plain plain\n"
    )
    env = {**os.environ, "SERVICE": SERVICE, "GRACE": str(GRACE), "STOP_WITH_PARENT": "1"}
    make = subprocess.Popen(
        ["make", "-s", "-C", str(tmp_path), "run"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    files = [pids / "0.pid", pids / "1.pid"]
    _wait_until(lambda: all(f.exists() for f in files), 30, "every stand-in service started")
    started = [int(pid) for f in files for pid in f.read_text().split()]

    os.kill(make.pid, signum)  # make alone, as `kill <make pid>` does

    try:
        _wait_until(lambda: not any(_alive(pid) for pid in started), GRACE + 10, "every service stopped")
        output = make.communicate(timeout=GRACE + 10)[0]
        assert "All services stopped." in output, output
    finally:  # failed: make forwards a SIGTERM to the supervisor, which stops what it started
        if make.poll() is None:
            make.terminate()
            make.communicate(timeout=GRACE + 10)


def test_make_run_refuses_before_touching_the_database_when_a_supervisor_runs(tmp_path):
    data_dir, database = tmp_path / "var", tmp_path / "app.db"
    env = {
        **os.environ,
        "AIADMIN_DATA_DIR": str(data_dir),
        "AIADMIN_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }
    with serve.data_dir_lock(data_dir, {"urls": {"api": "http://127.0.0.1:1/docs"}}):
        result = subprocess.run(
            [AIADMIN, "serve", "--prepare"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"already running for {data_dir} (pid {os.getpid()}" in result.stderr
    assert "api http://127.0.0.1:1/docs" in result.stderr
    assert not database.exists()  # not migrated, no demo data
    assert not (data_dir / "dagster").exists()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_starts_api_dagster_and_panel_and_sigterm_stops_them_all(settings, tmp_path):
    upgrade(settings)
    api, dagster, panel, portal = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "AIADMIN_DATA_DIR": str(settings.data_dir),
        "AIADMIN_DATABASE_URL": settings.database_url,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    argv = [
        AIADMIN,
        "serve",
        "--api-port",
        str(api),
        "--dagster-port",
        str(dagster),
        "--panel-port",
        str(panel),
        "--portal-port",
        str(portal),
    ]
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
        f"http://127.0.0.1:{portal}/healthz",
    ]
    try:
        deadline = time.monotonic() + 180
        while not all(_answers(url) for url in health):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "services did not come up in 180 s"
            time.sleep(1)
        # A second `make run` for the same data directory is refused while this one is up.
        second = subprocess.run([*argv[:2], "--prepare"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert second.returncode == 1 and "already running" in second.stderr
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=60)

    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{panel}" in output and "admin@" in output
    assert f"portal             http://127.0.0.1:{portal}" in output
    assert "All services stopped." in output
    assert not any(_answers(url) for url in health)
