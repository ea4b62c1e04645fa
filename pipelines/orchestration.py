"""When runs start: a sensor on new events, a daily schedule (dimension snapshots even on a quiet day), and
run-status sensors that note every finished run for the API's health endpoint."""

import os
import socket
from pathlib import Path

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)
from sqlalchemy import func, select

from api.events.models import UsageEvent
from pipelines.jobs import HOST_TAG, REFRESH_JOB, refresh_warehouse
from pipelines.resources import OltpResource, WarehouseResource
from warehouse.status import record_run

SENSOR_SECONDS = 10
_UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def fail_abandoned_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed the refreshes that the instance still counts as under way although the process that ran
    them is gone (SIGKILL, the OOM killer, a reboot, a full disk under Dagster's own storage); their ids.

    Dagster notices a dead run worker only with launchers that can check on it, which the default one does
    not; such a run would stay STARTED for ever, and with it the sensor's "a refresh is under way" and the
    queue's one slot: no refresh would start again. A run is looked at only on the machine that ran it (its
    host tag); its process is the one that wrote its RUN_START event.
    """
    failed = []
    for record in instance.get_run_records(RunsFilter(job_name=REFRESH_JOB, statuses=_UNFINISHED)):
        run = record.dagster_run
        if run.tags.get(HOST_TAG) != socket.gethostname():
            continue
        started = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1)
        if not started.records:  # not started yet: nothing to look for
            continue
        entry = started.records[0].event_log_entry
        pid = entry.dagster_event.pid if entry.dagster_event else None
        if pid is None or _running_since(pid, entry.timestamp):
            continue
        instance.report_run_failed(
            run, f"The process that ran this refresh (pid {pid}) is gone: killed or crashed mid-run."
        )
        failed.append(run.run_id)
    return failed


def _running_since(pid: int, timestamp: float) -> bool:
    """Process `pid` exists and was started by `timestamp` (not a later process that took over its pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, StopIteration, IndexError, ValueError):  # no /proc: the pid alone decides
        return True
    if stat[0] == "Z":  # a zombie: dead, not yet reaped
        return False
    started = boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")
    return started <= timestamp + 1  # (btime is whole seconds)


def newest_event_id(oltp: OltpResource) -> int:
    engine = oltp.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(UsageEvent.id), 0))).scalar_one()
    finally:
        engine.dispose()


@sensor(
    job=refresh_warehouse,
    minimum_interval_seconds=SENSOR_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts a refresh when the API has written events since the last one (one run at a time).",
)
def new_events_sensor(context: SensorEvaluationContext, oltp: OltpResource):
    newest = newest_event_id(oltp)
    seen = int(context.cursor or 0)
    if newest <= seen:
        return SkipReason(f"no event past id {seen}")
    fail_abandoned_runs(context.instance)
    busy = context.instance.get_runs(RunsFilter(job_name=REFRESH_JOB, statuses=_UNFINISHED), limit=1)
    if busy:  # the running refresh may miss the newest events: the next tick asks again
        return SkipReason(f"a refresh is under way; newest event id {newest}")
    context.update_cursor(str(newest))
    return RunRequest(run_key=f"events-{newest}", tags={"aiadmin/newest_event_id": str(newest)})


daily_refresh = ScheduleDefinition(
    name="daily_refresh",
    job=refresh_warehouse,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every day at 03:00 UTC: dimension snapshots and a full refresh run, events or not.",
)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[refresh_warehouse],
    default_status=DefaultSensorStatus.RUNNING,
)
def note_succeeded_runs(context: RunStatusSensorContext, warehouse: WarehouseResource):
    record_run(warehouse.data_dir, run_id=context.dagster_run.run_id, succeeded=True)


@run_failure_sensor(monitored_jobs=[refresh_warehouse], default_status=DefaultSensorStatus.RUNNING)
def note_failed_runs(context: RunFailureSensorContext, warehouse: WarehouseResource):
    record_run(
        warehouse.data_dir,
        run_id=context.dagster_run.run_id,
        succeeded=False,
        failed_steps=[event.step_key for event in context.get_step_failure_events() if event.step_key],
        message=context.failure_event.message,
    )
