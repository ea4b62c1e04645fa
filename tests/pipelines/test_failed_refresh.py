"""A refresh after a publish that goes wrong keeps the last serving copy: one killed with SIGKILL while dbt
builds, run again, gives exact totals; one stopped by a failing dbt test publishes nothing."""

from __future__ import annotations

import duckdb
import pytest
from sqlalchemy import func, select

from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from pipelines.run import PipelineFailed
from tests.support.api import completion_body, sign_up
from tests.support.processes import PipelineProcess
from tests.support.world import CALLS, published_copy
from warehouse.queries import daily_usage
from warehouse.status import read_status


def _inside_the_dbt_build(run: PipelineProcess) -> bool:
    """dbt build runs and has begun a node, and the run's dbt step has not finished."""
    return (
        run.dbt_running()
        and run.dbt_has("Began executing node")
        and not run.has('Finished execution of step "dbt_models"')
    )


@pytest.fixture
def settings(published_template, tmp_path):
    """A copy of the test run's published world (tests/support/world.py): the run killed is a refresh after a
    publish, as the watcher or the schedule starts one."""
    return published_copy(published_template, tmp_path)


def test_a_run_killed_during_dbt_build_then_rerun_gives_exact_totals(
    env_settings, client, warehouse_settings, pipeline, tmp_path
):
    headers = sign_up(client, "dan@example.com")
    for _ in range(2):
        assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).is_success

    # `aiadmin pipeline run` frozen inside dbt's build (not a sleep that may land before or after it), then
    # SIGKILL to its whole process group, dbt included.
    run = PipelineProcess(env_settings, tmp_path / "run.log")
    try:
        inside = run.stop_at(near=lambda run: run.dbt_has("Began executing node"), at=_inside_the_dbt_build)
    except BaseException:
        run.discard()
        raise
    if not inside:
        run.wait()
    assert inside, f"the run ended before it was caught inside dbt build:\n{run.output()[-3000:]}"
    assert run.kill() == []  # nothing of it goes on

    result = pipeline()
    assert result.success
    engine = make_sync_engine(env_settings)
    try:
        with engine.connect() as conn:
            events = conn.execute(select(func.count()).select_from(UsageEvent.__table__)).scalar_one()
            calls = conn.execute(
                select(func.count()).where(UsageEvent.type.in_(["llm.call_succeeded", "llm.call_failed"]))
            ).scalar_one()
    finally:
        engine.dispose()
    with duckdb.connect(str(warehouse_settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.usage_events").fetchone()[0] == events
    made = CALLS + 2  # the world's calls and dan's
    with duckdb.connect(str(warehouse_settings.serving_path), read_only=True) as con:
        assert con.execute("SELECT sum(calls) FROM marts.mart_usage_daily").fetchone()[0] == calls == made
        assert con.execute("SELECT count(*) FROM marts.fct_llm_calls").fetchone()[0] == made
        assert con.execute("SELECT sum(completions) FROM marts.fct_user_days").fetchone()[0] == made


def test_a_failing_dbt_test_fails_the_run_and_keeps_the_last_serving_copy(
    client, warehouse_settings, pipeline
):
    published = daily_usage(path=warehouse_settings.serving_path)
    # Corrupt the raw layer behind the pipeline's back in a way extract accepts and dbt's tests do not:
    # a second event that reuses an existing sequence id (the source test `unique id` fails).
    with duckdb.connect(str(warehouse_settings.warehouse_path)) as con:
        con.execute(
            "INSERT INTO raw.usage_events SELECT * REPLACE (uuid()::varchar AS event_id) "
            "FROM raw.usage_events LIMIT 1"
        )
    headers = sign_up(client, "dan@example.com")  # new events that must not reach the serving copy
    assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).is_success

    with pytest.raises(PipelineFailed) as failed:
        pipeline()
    assert failed.value.failed_steps == ["dbt_models"]
    assert daily_usage(path=warehouse_settings.serving_path).equals(published)
    noted = read_status(warehouse_settings.data_dir)  # what /api/v1/admin/health shows
    assert noted["last_run"]["status"] == "failure" and noted["last_run"]["failed_steps"] == ["dbt_models"]
