"""When runs start: a sensor on new events, a daily schedule (dimension snapshots even on a quiet day), and
run-status sensors that note every finished run for the API's health endpoint."""

from dagster import (
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
from pipelines.jobs import REFRESH_JOB, refresh_warehouse
from pipelines.resources import OltpResource, WarehouseResource
from warehouse.status import record_run

SENSOR_SECONDS = 10
_UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


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
