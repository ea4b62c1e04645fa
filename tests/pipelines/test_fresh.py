"""The fresh lane (pipelines/fresh.py) and its watcher: a new event reaches the serving copy without a
Dagster run, under the writer lock, and only after the marts reconcile with the raw events."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.fresh import FreshLane, FreshLaneFailed
from pipelines.watch import Watcher
from tests.support.api import completion_body, sign_up
from tests.support.world import CALLS, published_copy
from warehouse.as_of import as_of
from warehouse.queries import daily_usage


def _completions(warehouse_settings) -> int:
    return int(daily_usage(path=warehouse_settings.serving_path)["completions"].sum())


@pytest.fixture
def settings(published_template, tmp_path):
    """A copy of the test run's published world (tests/support/world.py): the full refresh (dimensions,
    snapshots, every model) the watcher starts after, as under `make run`."""
    return published_copy(published_template, tmp_path)


def test_the_watcher_publishes_a_new_event_through_the_fresh_lane_and_a_failed_lane_nothing(
    client, settings, warehouse_settings
):
    before = as_of(warehouse_settings.serving_path)
    watcher = Watcher(FreshLane.of(warehouse_settings, settings.database_url))
    watcher.lane.prepare()  # dbt compiles the models once, when the watcher starts
    assert watcher.step().publication is None  # the first poll always looks: nothing new since the build
    assert watcher.step() is None  # nothing new: no extract, no dbt

    headers = sign_up(client, "dan@example.com")
    assert client.post("/v1/chat/completions", headers=headers, json=completion_body()).status_code == 200
    result = watcher.step()  # how long it takes is measured by bench/freshness.py, not asserted here

    assert result is not None and result.events >= 1 and result.publication is not None
    assert _completions(warehouse_settings) == CALLS + 1
    after = as_of(warehouse_settings.serving_path)
    assert after.stamp != before.stamp and after.published_at > before.published_at

    # A lane that fails (a table the models read is gone) rolls its models back and publishes nothing.
    with duckdb.connect(str(warehouse_settings.warehouse_path)) as con:
        con.execute("DROP TABLE raw.accounts")
    client.post("/v1/chat/completions", headers=headers, json=completion_body())
    with pytest.raises(FreshLaneFailed, match="failed"):
        watcher.lane.run()
    assert as_of(warehouse_settings.serving_path) == after
    assert _completions(warehouse_settings) == CALLS + 1
