"""Materialise every asset once, in-process (`aiadmin pipeline run`, the tests, `make run`)."""

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from pipelines.definitions import REFRESH_JOB, build_definitions
from warehouse.status import record_run


class PipelineFailed(Exception):
    def __init__(self, run_id: str, failed_steps: list[str], failed_checks: list[str]) -> None:
        super().__init__(f"pipeline run {run_id} failed: steps {failed_steps}, checks {failed_checks}")
        self.run_id = run_id
        self.failed_steps = failed_steps
        self.failed_checks = failed_checks


def run_pipeline(
    definitions: Definitions | None = None, instance: DagsterInstance | None = None
) -> ExecuteInProcessResult:
    """Extract, dbt build (with its tests as checks), publish. Raises PipelineFailed on any failure."""
    definitions = definitions or build_definitions()
    job = definitions.resolve_job_def(REFRESH_JOB)
    result = job.execute_in_process(instance=instance or DagsterInstance.get(), raise_on_error=False)
    failed_checks = [e for e in result.get_asset_check_evaluations() if not e.passed]
    steps = [e.step_key for e in result.get_step_failure_events()]
    checks = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed_checks]
    succeeded = result.success and not failed_checks
    record_run(
        definitions.resources["warehouse"].data_dir,
        run_id=result.run_id,
        succeeded=succeeded,
        failed_steps=steps,
        message=None if succeeded else f"failed steps {steps}, failed checks {checks}",
    )
    if not succeeded:
        raise PipelineFailed(result.run_id, steps, checks)
    return result
