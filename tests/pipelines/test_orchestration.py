"""The sensor starts a refresh on new events (never two at once); every finished run is noted for /health."""

from __future__ import annotations

from dagster import DagsterInstance, DagsterRunStatus, RunRequest, SkipReason, build_sensor_context

from pipelines.definitions import REFRESH_JOB, build_definitions
from pipelines.orchestration import new_events_sensor
from pipelines.resources import OltpResource
from tests.support.api import completion_body, sign_up
from warehouse.status import read_status


def _tick(instance, settings, cursor=None):
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"oltp": OltpResource(database_url=settings.database_url)}
    )
    return new_events_sensor(context), context.cursor


def test_the_sensor_asks_for_a_run_when_events_arrive_and_not_otherwise(client, settings):
    with DagsterInstance.ephemeral() as instance:
        quiet, cursor = _tick(instance, settings)
        assert isinstance(quiet, SkipReason)

        _one_call(client)
        request, cursor = _tick(instance, settings, cursor)
        assert isinstance(request, RunRequest) and int(cursor) > 0

        again, same_cursor = _tick(instance, settings, cursor)
        assert isinstance(again, SkipReason) and same_cursor == cursor


def test_the_sensor_waits_while_a_refresh_is_under_way(client, settings, warehouse_settings):
    job = build_definitions(settings, warehouse_settings).resolve_job_def(REFRESH_JOB)
    with DagsterInstance.ephemeral() as instance:
        run = instance.create_run_for_job(job_def=job, status=DagsterRunStatus.STARTED)
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
        _one_call(client)
        waiting, cursor = _tick(instance, settings)
        assert isinstance(waiting, SkipReason) and "under way" in waiting.skip_message
        assert cursor is None  # the events are still "new" for the next tick


def _one_call(client) -> None:
    client.post("/v1/chat/completions", headers=sign_up(client, "ada@example.com"), json=completion_body())


def test_every_finished_run_is_noted_for_the_health_endpoint(client, settings, warehouse_settings, pipeline):
    assert read_status(warehouse_settings.data_dir) == {}
    _one_call(client)
    result = pipeline()
    status = read_status(warehouse_settings.data_dir)
    assert status["last_run"]["run_id"] == result.run_id
    assert status["last_run"]["status"] == "success" and status["last_success"] == status["last_run"]
