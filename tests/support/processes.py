"""Processes under test: their tree, argv, open files and states; a process frozen and stepped to a
moment seen (SteppedProcess), the pipeline run as one (PipelineProcess), and the stages it is killed in."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from api.core.settings import Settings
from tests.support.figures import _libpq


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant of it (from /proc/<pid>/task/<tid>/children)."""
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        try:
            tasks = list((Path("/proc") / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                queue.extend(int(child) for child in (task / "children").read_text().split())
            except (OSError, ValueError):
                continue
    return tree


def process_argv(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def open_files(pid: int) -> set[str]:
    """The paths a process has open (its /proc fd links)."""
    paths = set()
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:
        return paths
    for fd in fds:
        try:
            paths.add(os.readlink(fd))
        except OSError:
            continue
    return paths


def _task_states(pid: int) -> dict[str, str]:
    """The state letter of each thread of a process (R, S, D, T for stopped, Z, …); empty when it is gone."""
    states = {}
    try:
        tasks = list((Path("/proc") / str(pid) / "task").iterdir())
    except OSError:
        return states
    for task in tasks:
        try:
            states[task.name] = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
    return states


def _zombie(pid: int) -> bool:
    return set(_task_states(pid).values()) <= {"Z", "X"}


class Tail:
    """The text appended to a file since this reader was made (a rotated file is read from its start)."""

    def __init__(self, path: Path, from_end: bool = False) -> None:
        self.path = path
        self.offset = path.stat().st_size if from_end and path.exists() else 0
        self.text = ""

    def read(self) -> str:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return self.text
        if size < self.offset:
            self.offset = 0
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            new = file.read()
        self.offset += len(new)
        self.text += new.decode(errors="replace")
        return self.text


# `aiadmin pipeline run`, its modules imported before it is told to go: a run started during the checks of
# the one before it is ready at once, not seconds of imports later.
_CLI_WHEN_TOLD = """
import sys
import aiadmin.cli, pipelines.run
if sys.stdin.readline() != "go\\n":  # the test went away without a word
    sys.exit(3)
sys.exit(aiadmin.cli.main(["pipeline", "run"]))
"""


class SteppedProcess:
    """A process started in a process group of its own, which the test can freeze at a chosen moment.

    `stop_at(near, at)` freezes the group (SIGSTOP) at a moment where `at(self)` holds, seen while frozen:
    what a kill or a fault then does, it does exactly there. Once `near(self)` holds, the group is stepped:
    frozen, looked at, let go for a few milliseconds, so that even a short window is caught.
    """

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.pid = process.pid

    def output(self) -> str:
        """What to show when the moment never came (the process's output, where it is kept)."""
        return ""

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def freeze(self) -> None:
        deadline = time.monotonic() + 30
        os.killpg(self.pid, signal.SIGSTOP)
        # Every thread of every process; one forked while the group was being stopped missed the signal.
        while running := [pid for pid in self.tree() if not self._stopped(pid)]:
            if time.monotonic() > deadline:
                states = {pid: (process_argv(pid)[:3], _task_states(pid)) for pid in running}
                raise RuntimeError(f"processes did not stop: {states}")
            time.sleep(0.001)
            for pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)

    @staticmethod
    def _stopped(pid: int) -> bool:
        """Every thread stopped, or in uninterruptible sleep (D: a disk write, or a parent waiting for its
        vfork child, stopped before its exec), from which it can only return into the pending stop."""
        return all(state in ("T", "t", "D", "Z", "X") for state in _task_states(pid).values())

    def thaw(self) -> None:
        os.killpg(self.pid, signal.SIGCONT)
        for pid in self.tree():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def stop_at(self, near, at, timeout: float = 600, step: float = 0.003) -> bool:
        """Frozen where `at` holds (True), or False if the process ended first."""
        deadline = time.monotonic() + timeout
        while not near(self):
            if self.process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"the process never got near the moment:\n{self.output()[-3000:]}")
            time.sleep(0.01)
        while True:
            self.freeze()
            if at(self):
                return True
            self.thaw()
            if self.process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"the process never reached the moment:\n{self.output()[-3000:]}")
            time.sleep(step)

    def kill(self, timeout: float = 60) -> list[list[str]]:
        """SIGKILL to the whole group, as a machine losing power would; what still runs of it after
        `timeout` (nothing, unless a process escaped the group)."""
        tree = self.tree()
        os.killpg(self.pid, signal.SIGKILL)
        self.wait()
        return self.survivors(tree, timeout)

    def kill_main(self, timeout: float = 60) -> list[list[str]]:
        """SIGKILL to the group's first process only, as the OOM killer or `kill -9 <pid>` does it; the rest
        of the group is let go. Returns what still runs of it after `timeout` (dbt going on alone, say)."""
        tree = self.tree()
        os.kill(self.pid, signal.SIGKILL)
        self.wait()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        return self.survivors(tree, timeout)

    @staticmethod
    def survivors(tree: list[int], timeout: float = 60) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while (alive := [pid for pid in tree if _task_states(pid) and not _zombie(pid)]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        survivors = [process_argv(pid)[:3] for pid in alive]
        for pid in alive:  # not to leave them behind the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return survivors

    def wait(self, timeout: float = 900) -> int:
        return self.process.wait(timeout=timeout)


class PipelineProcess(SteppedProcess):
    """`aiadmin pipeline run` in a process group of its own (its dbt child included), its output in a file,
    to be frozen at a stage of the run (`STAGES`) with `stop_at`.

    With `go=False` the process only imports, and starts the run when `go()` is called.
    """

    def __init__(
        self, settings: Settings, log_path: Path, go: bool = True, dagster_home: Path | None = None
    ) -> None:
        from warehouse.settings import WarehouseSettings

        warehouse = WarehouseSettings(data_dir=settings.data_dir)
        self.settings = settings
        self.warehouse_path = warehouse.warehouse_path
        self.serving_path = warehouse.serving_path
        self.log = Tail(log_path)
        env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
        if dagster_home:  # else `<data dir>/dagster`, as `aiadmin pipeline run` makes it
            env["DAGSTER_HOME"] = str(dagster_home)
        env.update(
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),
            PYTHONUNBUFFERED="1",
            AIADMIN_DATA_DIR=str(settings.data_dir),
            AIADMIN_DATABASE_URL=settings.database_url,
        )
        self._out = open(log_path, "wb")  # closed by wait()
        super().__init__(
            subprocess.Popen(
                [sys.executable, "-c", _CLI_WHEN_TOLD],
                env=env,
                stdin=subprocess.PIPE,
                stdout=self._out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        self.dbt_log: Tail | None = None
        if go:
            self.go()

    def discard(self) -> None:
        """Kill it, if it still runs (or still waits to be told to go)."""
        if self.process.poll() is None:
            self.kill(timeout=5)

    def go(self) -> None:
        from pipelines.dbt_assets import dbt_target_path
        from pipelines.resources import WarehouseResource

        resource = WarehouseResource(
            warehouse_path=str(self.warehouse_path), serving_path=str(self.serving_path)
        )
        # dbt's own log, written as it goes (its lines on the run's output can lag behind).
        self.dbt_log = Tail(dbt_target_path(resource) / "dbt.log", from_end=True)
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    def output(self) -> str:
        return self.log.read()

    def has(self, *markers: str) -> bool:
        text = self.output()
        return all(marker in text for marker in markers)

    def dbt_has(self, *markers: str) -> bool:
        text = self.dbt_log.read()
        return all(marker in text for marker in markers)

    def dbt_running(self) -> bool:
        """dbt's `build` runs (a console script: `python …/bin/dbt build …`)."""
        return any(
            "build" in argv and any(arg.endswith("/dbt") for arg in argv[:2])
            for argv in map(process_argv, self.tree())
        )

    def wait(self, timeout: float = 900) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._out.close()
            if not self.process.stdin.closed:
                self.process.stdin.close()


def _step(step: str, finished: bool = False) -> str:
    """Dagster's line for a step of the refresh job starting (or finishing)."""
    return f'{"Finished" if finished else "Started"} execution of step "{step}"'


def _extract_reading(run: PipelineProcess) -> bool:
    """The extract's PostgreSQL snapshot is still open: its rows are not committed to DuckDB (the DuckDB
    commit comes after the source's read ends)."""
    import psycopg

    with psycopg.connect(_libpq(run.settings), autocommit=True) as conn:
        (reading,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE '%%FROM usage_events%%WHERE txid >=%%'"
        ).fetchone()
    return reading > 0


@dataclass(frozen=True)
class Stage:
    """A moment of a refresh run, recognised from outside its process.

    `near`: the run is getting there (cheap, looked at while it runs); `at`: it is there (looked at while the
    run is frozen, so that it is still true when the fault lands). `extracted` / `built`: the run's extract
    has committed / its dbt build has finished by then.
    """

    name: str
    what: str
    near: Callable[[PipelineProcess], bool]
    at: Callable[[PipelineProcess], bool]
    extracted: bool
    built: bool


def _dbt_node(node: str, what: str) -> Stage:
    return Stage(
        f"dbt:{node.rsplit('.', 1)[1]}",
        f"dbt executing {node} ({what})",
        near=lambda run: run.dbt_has(f"Began executing node {node}"),
        at=lambda run: (
            run.dbt_has(f"Began executing node {node}")
            and not run.dbt_has(f"Finished running node {node}")
            and run.dbt_running()
        ),
        extracted=True,
        built=False,
    )


STAGES = {
    stage.name: stage
    for stage in (
        Stage(
            "extract",
            "rows of the new events inserted into DuckDB, uncommitted, the read still going",
            near=lambda run: run.has("rows read past cursor"),
            at=lambda run: (
                run.has("rows read past cursor")
                and not run.has(_step("raw__usage_events", finished=True))
                and _extract_reading(run)
            ),
            extracted=False,
            built=False,
        ),
        Stage(
            "between:extract-dimensions",
            "the extract committed, the dimension copy not started",
            near=lambda run: run.has("rows read past cursor"),
            at=lambda run: (
                run.has(_step("raw__usage_events", finished=True)) and not run.has(_step("raw_dimensions"))
            ),
            extracted=True,
            built=False,
        ),
        Stage(
            "dimensions",
            "the dimension tables being replaced in DuckDB (the warehouse open for writing)",
            near=lambda run: run.has(_step("raw_dimensions")),
            at=lambda run: (
                str(run.warehouse_path) in open_files(run.pid) and not run.has("dimensions copied")
            ),
            extracted=True,
            built=False,
        ),
        _dbt_node("snapshot.aiadmin.snap_accounts", "a dimension snapshot"),
        _dbt_node("model.aiadmin.fct_llm_calls", "the incremental fact table, delete+insert"),
        _dbt_node("model.aiadmin.fct_user_days", "an incremental table downstream of the facts"),
        _dbt_node("model.aiadmin.mart_usage_daily", "a mart rebuilt whole"),
        Stage(
            "between:dbt-publish",
            "the build done, the reconciliation check running, nothing published",
            near=lambda run: run.has(_step("dbt_models", finished=True)),
            at=lambda run: (
                run.has(_step("marts__mart_usage_daily_reconciles_with_raw_events"))
                and not run.has(_step("serving_warehouse"))
            ),
            extracted=True,
            built=True,
        ),
        Stage(
            "publish",
            "the new serving copy being written to its temporary file",
            near=lambda run: run.has(_step("serving_warehouse")),
            at=lambda run: any(run.serving_path.parent.glob(f".{run.serving_path.name}.*.tmp")),
            extracted=True,
            built=True,
        ),
    )
}
