"""`make run`'s supervisor: one per data directory, it starts the API, the Dagster webserver and daemon,
the fresh lane's watcher, the panel and the portal, and stops every one of them when it is told to (Ctrl-C,
a closed terminal, a kill) or when one of them dies.
Decision record: docs/decisions/0037-one-supervisor-per-data-directory.md.

- A lock (`<data dir>/serve.lock`, flock) makes a second supervisor for the same data directory refuse to
  start, saying who holds it, before it migrates or starts anything.
- Each service runs in its own process group (what it spawns goes with it): a stop sends SIGTERM to every
  group, then SIGKILL to whatever is left after a grace period.
- SIGHUP, SIGINT and SIGTERM all mean "stop everything". A SIGKILL cannot be caught: a small watchdog process,
  holding the other end of a pipe, sees the pipe close and stops the groups itself. Each service also gets
  SIGTERM from the kernel when the supervisor dies (PR_SET_PDEATHSIG), in case the watchdog is gone too.
- `--stop-with-parent` (`make run`): the supervisor stops everything when make dies (PR_SET_PDEATHSIG on
  itself, and its parent's pid checked) or is told to stop: make forwards only SIGTERM to its recipe and
  waits for it on SIGHUP, SIGINT or SIGQUIT, so `kill -HUP <make>` would leave everything running. A
  fatal signal makes make drop its handler for it, which shows in /proc (`Parent`, decision 0046).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GRACE = 8.0  # seconds from SIGTERM to SIGKILL
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Service:
    name: str
    url: str | None
    argv: list[str]


def services(
    host: str, api_port: int, dagster_port: int, panel_port: int, portal_port: int = 8600
) -> list[Service]:
    """Every long-lived service of `make run`, in start order (stopped in reverse). One entry per service."""
    workspace = str(ROOT / "workspace.yaml")
    return [
        # No proxy headers: uvicorn would trust X-Forwarded-For from 127.0.0.1, letting a local client
        # choose its address; the app reads it itself (AIADMIN_TRUSTED_PROXIES, api/core/deps.py).
        Service(
            "api",
            f"http://{host}:{api_port}/docs",
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
        Service("panel", f"http://{host}:{panel_port}", panel_argv(host, panel_port)),
        # The end users' web app (docs/portal.md): the API's mail links point at it (AIADMIN_APP_URL).
        Service(
            "portal",
            f"http://{host}:{portal_port}",
            [
                str(BIN / "uvicorn"),
                "--factory",
                "portal.app:app",
                "--host",
                host,
                "--port",
                str(portal_port),
                # As for the API: the portal reads X-Forwarded-For itself, only behind proxies it is told
                # of (AIADMIN_PORTAL_TRUSTED_PROXIES), for the address it forwards (portal/forwarding.py).
                "--no-proxy-headers",
            ],
        ),
    ]


def panel_argv(host: str, port: int) -> list[str]:
    """`streamlit run` as `make run` starts the panel (the browser tests start it the same way)."""
    return [
        str(BIN / "streamlit"),
        "run",
        str(ROOT / "dashboard" / "app.py"),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",  # the menu keeps Settings: the light or dark theme
        # An error shows its type and a generic message, never a traceback with the server's paths (the
        # full traceback goes to the console).
        "--client.showErrorDetails",
        "type",
    ]


# What `make run` does before it starts the services, under the same lock.
PREPARE = (("migrate",), ("demo-data", "--if-empty"), ("pipeline", "run"))


def prepare_steps() -> list[Service]:
    return [Service(" ".join(step), None, [str(BIN / "aiadmin"), *step]) for step in PREPARE]


class AlreadyRunning(Exception):
    """Another supervisor holds this data directory's lock."""


@contextmanager
def data_dir_lock(data_dir: Path, about: dict) -> Iterator[IO[str]]:
    """Hold `<data_dir>/serve.lock` while the block runs; `about` (ports, pid) is written into it for the
    message a second supervisor prints. Refuses with AlreadyRunning when it is held."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "serve.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise AlreadyRunning(_holder(handle.read(), data_dir)) from None
        handle.seek(0)
        handle.truncate()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(json.dumps({"pid": os.getpid(), "since": since, **about}))
        handle.flush()
        yield handle
    finally:
        handle.close()


def _holder(text: str, data_dir: Path) -> str:
    try:
        about = json.loads(text)
    except ValueError:
        about = {}
    urls = ", ".join(f"{name} {url}" for name, url in about.get("urls", {}).items())
    who = f"pid {about.get('pid', '?')}, since {about.get('since', '?')}" + (f"; {urls}" if urls else "")
    return (
        f"aiadmin serve is already running for {data_dir} ({who}).\n"
        "Stop it first (Ctrl-C in its terminal, or kill that pid), or use another AIADMIN_DATA_DIR."
    )


def die_with_parent() -> None:
    """The kernel sends this process SIGTERM when its parent dies, even by SIGKILL (Linux; elsewhere a no-op).
    Called in each service before exec, and by `make run`'s supervisor for make."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# The signals make catches to stop (SIGHUP, SIGINT, SIGQUIT, SIGTERM), as bits of /proc's SigCgt mask.
PARENT_STOPS = sum(1 << (signum - 1) for signum in (*STOP_SIGNALS, signal.SIGQUIT))


@dataclass(frozen=True)
class Parent:
    """The process that started the supervisor (make), as it was at the start: its pid and which stop signals
    it had handlers for. It asked us to stop when it is gone (we were reparented) or when it no longer catches
    one of them: GNU make's handler for a fatal signal resets itself to the default before it waits for its
    recipes to end, and forwards only SIGTERM to them."""

    pid: int
    caught: int | None

    @classmethod
    def now(cls) -> Parent:
        pid = os.getppid()
        return cls(pid, _caught_signals(pid))

    def asked_to_stop(self) -> bool:
        if os.getppid() != self.pid:
            return True
        caught = _caught_signals(self.pid)
        return None not in (self.caught, caught) and bool(self.caught & PARENT_STOPS & ~caught)


def _caught_signals(pid: int) -> int | None:
    """The signals `pid` has handlers for (Linux's /proc SigCgt), None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def stop_with_parent() -> Parent:
    """`make run`: SIGTERM from the kernel when make dies, and make as it is now, for the supervisor to
    watch."""
    die_with_parent()
    return Parent.now()


def say(message: str) -> None:
    """Print, surviving a closed terminal (SIGHUP) or a reader gone: a stop goes on without an audience."""
    try:
        print(message, flush=True)
    except OSError:
        with suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


class Supervisor:
    """Starts processes each in its own group, and stops every group on a stop signal, on exit or, through
    its watchdog, on its own death."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        grace: float = GRACE,
        lock: IO[str] | None = None,
        parent: Parent | None = None,
    ) -> None:
        self.env = env
        self.parent = parent  # stop when it asks (`--stop-with-parent`)
        self.grace = grace
        self.running: list[tuple[Service, subprocess.Popen]] = []
        self.stop_requested: int | None = None  # the signal that asked us to stop
        self._lock = lock
        self._watchdog: subprocess.Popen | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Supervisor:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        # The watchdog keeps the lock too (its inherited descriptor): after a SIGKILL of the supervisor the
        # data directory stays locked until the watchdog has stopped every service.
        pass_fds = (self._lock.fileno(),) if self._lock else ()
        self._watchdog = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "aiadmin.serve", "watchdog", str(self.grace)],
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,
            pass_fds=pass_fds,
        )
        return self

    def __exit__(self, *_exc) -> None:
        try:
            self.stop_all()
        finally:
            if self._watchdog:
                with suppress(OSError):
                    self._watchdog.stdin.write("done\n")
                    self._watchdog.stdin.close()
                self._watchdog.wait()
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame) -> None:
        if self.stop_requested is not None:
            self.grace = 0  # asked twice: no more waiting
        self.stop_requested = signum

    def _stopping(self) -> bool:
        """Whether a stop was asked: by a signal, or by the parent we watch (then as if by SIGTERM)."""
        if self.stop_requested is None and self.parent is not None and self.parent.asked_to_stop():
            say(f"\nThe parent process ({self.parent.pid}) was stopped.")
            self.stop_requested = signal.SIGTERM
        return self.stop_requested is not None

    def _tell_watchdog(self, line: str) -> None:
        with suppress(OSError, AttributeError):
            self._watchdog.stdin.write(line + "\n")
            self._watchdog.stdin.flush()

    def start(self, spec: Service) -> subprocess.Popen:
        proc = subprocess.Popen(  # noqa: S603 (argv from constants)
            spec.argv, cwd=ROOT, env=self.env, start_new_session=True, preexec_fn=die_with_parent
        )
        self.running.append((spec, proc))
        self._tell_watchdog(f"+{proc.pid}")
        return proc

    def run_step(self, spec: Service) -> int:
        """Run one step to its end (or until a stop is asked): its exit code, or None when stopped."""
        proc = self.start(spec)
        while proc.poll() is None and not self._stopping():
            time.sleep(0.1)
        if self.stop_requested is not None:
            return 128 + self.stop_requested
        self._forget(proc)
        return proc.returncode

    def watch(self) -> int:
        """Wait until a stop is asked (0) or a service exits (its code, or 1: the others are stopped)."""
        while not self._stopping():
            for spec, proc in self.running:
                if proc.poll() is not None:
                    say(f"\n{spec.name} exited with code {proc.returncode}; stopping the others.")
                    return proc.returncode or 1
            time.sleep(0.2)
        return 0

    def stop_all(self) -> None:
        """SIGTERM every group (last started first), SIGKILL what is left after the grace period."""
        if not self.running:
            return
        say("\nStopping…")
        for _spec, proc in reversed(self.running):
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for spec, proc in reversed(self.running):
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                say(f"{spec.name} did not stop in {self.grace:g} s; killing it.")
            # Whatever is left of its group (the service or what it spawned) goes now.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            self._tell_watchdog(f"-{proc.pid}")
        self.running.clear()
        say("All services stopped.")

    def _forget(self, proc: subprocess.Popen) -> None:
        _signal_group(proc.pid, signal.SIGKILL)  # a finished step leaves nothing behind
        self.running = [(s, p) for s, p in self.running if p is not proc]
        self._tell_watchdog(f"-{proc.pid}")


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False when nothing is left in it."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def supervise(
    specs: list[Service],
    env: dict[str, str],
    banner: str,
    *,
    prepare: list[Service] = (),
    grace: float = GRACE,
    lock: IO[str] | None = None,
    parent: Parent | None = None,
) -> int:
    """Run the `prepare` steps one after the other, then every service until a stop signal or `parent` asks
    (exit 0) or until one of them exits (its code); either way every process started is stopped before this
    returns."""
    with Supervisor(env, grace=grace, lock=lock, parent=parent) as supervisor:
        for step in prepare:
            say(f"$ aiadmin {step.name}")
            code = supervisor.run_step(step)
            if supervisor.stop_requested is not None:
                return 0
            if code != 0:
                say(f"aiadmin {step.name} failed (exit code {code}); nothing was started.")
                return code
        for spec in specs:
            supervisor.start(spec)
        say(banner)
        return supervisor.watch()


def run(
    data_dir: Path,
    specs: list[Service],
    env: dict[str, str],
    banner: str,
    *,
    prepare: list[Service] = (),
    setup: Callable[[], None] = lambda: None,
    grace: float = GRACE,
    parent: Parent | None = None,
) -> int:
    """`aiadmin serve`: under the data directory's lock, `setup()`, the `prepare` steps, then the services
    (see `supervise`). Another supervisor holding the lock: say who, exit 1, nothing started."""
    about = {"urls": {spec.name: spec.url for spec in specs if spec.url}}
    try:
        with data_dir_lock(data_dir, about) as lock:
            setup()
            return supervise(specs, env, banner, prepare=prepare, grace=grace, lock=lock, parent=parent)
    except AlreadyRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def watchdog(grace: float) -> int:
    """The other end of the supervisor's pipe: `+PGID` / `-PGID` lines keep the list of live groups, `done`
    says the supervisor stopped them itself. End of input without `done` (the supervisor was killed): stop
    every group still listed, SIGTERM then SIGKILL after the grace period."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)  # only the pipe tells it what to do
    groups: set[int] = set()
    for line in sys.stdin:
        line = line.strip()
        if line == "done":
            return 0
        if line[:1] == "+":
            groups.add(int(line[1:]))
        elif line[:1] == "-":
            groups.discard(int(line[1:]))
    groups = {pgid for pgid in groups if _signal_group(pgid, signal.SIGTERM)}
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        time.sleep(0.1)
        groups = {pgid for pgid in groups if _signal_group(pgid, 0)}
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["watchdog"]:
    sys.exit(watchdog(float(sys.argv[2])))
