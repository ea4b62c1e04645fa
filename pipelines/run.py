"""Materialise every asset once, in-process (`aiadmin pipeline run`, the tests, `make run`)."""

import os
import shutil
import uuid
from pathlib import Path

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from pipelines.definitions import REFRESH_JOB, build_definitions
from pipelines.orchestration import fail_abandoned_runs
from warehouse.status import record_run

# Below this much free space on the warehouse's disk, a failed run says that the disk is full.
LOW_SPACE_BYTES = 64 * 2**20


class PipelineFailed(Exception):
    def __init__(
        self, run_id: str, failed_steps: list[str], failed_checks: list[str], reason: str | None = None
    ) -> None:
        because = f": {reason}" if reason else ""
        super().__init__(
            f"pipeline run {run_id} failed: steps {failed_steps}, checks {failed_checks}{because}"
        )
        self.run_id = run_id
        self.failed_steps = failed_steps
        self.failed_checks = failed_checks
        self.reason = reason


def run_pipeline(
    definitions: Definitions | None = None, instance: DagsterInstance | None = None
) -> ExecuteInProcessResult:
    """Extract, dbt build (with its tests as checks), publish. Raises PipelineFailed on any failure.

    Also when Dagster itself cannot go on (its storage on a full disk, say): the run then ends with one
    PipelineFailed that says why, not with Dagster's traceback."""
    definitions = definitions or build_definitions()
    data_dir = definitions.resources["warehouse"].data_dir
    job = definitions.resolve_job_def(REFRESH_JOB)
    run_id = str(uuid.uuid4())
    try:
        instance = instance or DagsterInstance.get()
        fail_abandoned_runs(instance)  # a refresh killed earlier is not "under way" any more
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_id=run_id)
    except Exception as exc:  # Dagster could not run or record the run: nothing was published
        reason = _reason([f"Dagster stopped: {_root_cause(exc)}"], data_dir) or ""
        note = _note(data_dir, run_id, False, [], reason)
        raise PipelineFailed(run_id, [], [], reason + note) from exc
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    failures = result.get_step_failure_events()
    steps = [e.step_key for e in failures]
    checks = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed_checks]
    succeeded = result.success and not failed_checks
    if succeeded:
        _note(data_dir, result.run_id, True, [], None)
        return result
    reason = _reason([f"{e.step_key}: {_step_error(e)}" for e in failures], data_dir) or ""
    message = f"failed steps {steps}, failed checks {checks}" + (f": {reason}" if reason else "")
    note = _note(data_dir, result.run_id, False, steps, message)
    raise PipelineFailed(result.run_id, steps, checks, (reason + note) or None)


def _note(data_dir: Path, run_id: str, succeeded: bool, steps: list[str], message: str | None) -> str:
    """Record the run for the health endpoint; on a full disk that may fail too: then say so, don't crash."""
    try:
        record_run(data_dir, run_id=run_id, succeeded=succeeded, failed_steps=steps, message=message)
    except OSError as error:
        return f" (its status could not be recorded: {error.strerror or error})"
    return ""


def _step_error(event) -> str:
    """The innermost error of a failed step, on one line (a DuckDB IO error, not Dagster's wrapper)."""
    error = event.step_failure_data.error
    if error is None:
        return "no error recorded"
    while error.cause is not None:
        error = error.cause
    return _one_line(error.message)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _one_line(f"{type(exc).__name__}: {exc}")


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _reason(errors: list[str], data_dir: Path) -> str | None:
    """The errors, and a full disk named as such: "No space left on device" whatever layer hit it first
    (SQLite reports it as a "disk I/O error", DuckDB as an IO error)."""
    parts = [error for error in errors if error]
    try:
        free = shutil.disk_usage(data_dir).free
    except OSError:
        free = None
    if free is not None and free < LOW_SPACE_BYTES:
        parts.insert(0, f"No space left on device: {free // 2**10} KiB free in {os.fspath(data_dir)}")
    return "; ".join(parts) or None
