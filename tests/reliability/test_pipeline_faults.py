"""The refresh killed at each stage: the warehouse stays whole and the next run gives exact totals.

A kill is SIGKILL to the process running `aiadmin pipeline run` (the OOM killer, `kill -9 <pid>`: its dbt
and Dagster's helper processes are then left to themselves and must not outlive it), or to its whole
process group (a machine or container going down). It lands at a chosen moment (tests/support/processes.py
`STAGES`), recognised from outside the process with nothing in the production code to help: Dagster's and
dbt's own logs, the files the process holds open, the extract's transaction in `pg_stat_activity`, the
publish's temporary file. Once the run is near the moment it is stepped (SIGSTOP, look, SIGCONT), and the
kill is sent while it is frozen at the moment, so that the moment is where the kill lands.

After each kill: nothing of the run keeps running (no dbt writing on alone); the working warehouse opens,
holds every raw event once or none of the run's new ones (never a part); the serving copy is the last good
one, whole (the panel's query answers with the previous figures). Each later run repairs what the kill
interrupted: a run past the extract holds every event; a run past the dbt build has marts that equal the
oracle. After the last kill the new-events sensor asks for a refresh (no killed run counts as under way
for ever) and a run to the end gives exact totals: the raw events and the marts of both copies equal the
oracle computed from PostgreSQL, no event lost or counted twice, each dimension change snapshotted once.

The fast profile tours the stages with one kill each of the run's process (the extract, the dimension copy,
dbt inside the incremental fact table, the publish); the long profile also kills each stage three times on
its own (group, process, group), the moments between stages included, on more events.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter

import pytest
from dagster import RunRequest

from api.core.settings import Settings
from tests.reliability.profile import PROFILE, report
from tests.support.figures import bulk_events, mart_figures, marts_match
from tests.support.pipeline_faults import (
    RunsAhead,
    assert_exact,
    assert_left_whole,
    copy_of,
    frozen_at,
    next_sensor_tick,
    published_baseline,
    run_to_the_end,
)
from tests.support.processes import STAGES
from warehouse.settings import WarehouseSettings

pytestmark = [pytest.mark.postgres, pytest.mark.long]  # minutes each: `make test-long`

# A plan: the kills of one test, in turn, each (stage, "process" | "group"), then a run to the end.
TOUR = [(stage, "process") for stage in ("extract", "dimensions", "dbt:fct_llm_calls", "publish")]
if PROFILE.name == "long":
    BASE_EVENTS, PENDING_EVENTS, MORE_EVENTS, USERS = 1_000_000, 300_000, 50_000, 20_000
    PLANS = {
        "tour": TOUR,
        **{stage: [(stage, kill) for kill in ("group", "process", "group")] for stage in STAGES},
    }
else:
    # 100,000 pending events: two record batches for the extract (a kill lands between them).
    BASE_EVENTS, PENDING_EVENTS, MORE_EVENTS, USERS = 30_000, 100_000, 5_000, 10_000
    PLANS = {"tour": TOUR}

KILLED = {
    "process": "SIGKILL to the process running the refresh",
    "group": "SIGKILL to its process group (its dbt too)",
}
KILLS: Counter[tuple[str, str]] = Counter()
MISSES: Counter[tuple[str, str]] = Counter()
LEFT_RUNNING: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="module")
def baseline(pg_template, tmp_path_factory):
    """One published refresh, then events and plan changes waiting: what each test starts from."""
    root = tmp_path_factory.mktemp("pipeline-faults")
    with published_baseline(
        pg_template, root, events=BASE_EVENTS, pending=PENDING_EVENTS, users=USERS
    ) as published:
        yield published


@pytest.fixture
def copy_of_baseline(baseline) -> Settings:
    shutil.rmtree(baseline.root / "var", ignore_errors=True)
    with copy_of(baseline, baseline.root / "var") as settings:
        yield settings


@pytest.mark.parametrize("plan", list(PLANS))
def test_a_run_killed_at_any_stage_leaves_the_warehouse_whole_and_the_next_run_gives_exact_totals(
    plan, baseline, copy_of_baseline, tmp_path
):
    settings = copy_of_baseline
    wh = WarehouseSettings(data_dir=settings.data_dir)
    assert marts_match(mart_figures(wh.serving_path), baseline.oracle) == []  # the last good copy
    began = time.monotonic()
    misses_in_plan = []

    runs = RunsAhead(settings, tmp_path, len(PLANS[plan]))  # each run's process imports ahead of its turn
    try:
        for index, (stage_name, kill) in enumerate(PLANS[plan]):
            if index:  # the API kept writing: every run has new events to extract
                bulk_events(settings, MORE_EVENTS, users=USERS, salt=100 + index)
            run, before, misses = frozen_at(
                settings,
                STAGES[stage_name],
                tmp_path / f"{index}-{stage_name.replace(':', '-')}",
                more=lambda n, i=index: bulk_events(
                    settings, PENDING_EVENTS, users=USERS, salt=1000 + 10 * i + n
                ),
                ready=runs.take(index),
            )
            left = run.kill() if kill == "group" else run.kill_main()
            assert left == [], f"{stage_name}: outlived the killed run"
            LEFT_RUNNING[stage_name, kill] += len(left)
            KILLS[stage_name, kill] += 1
            MISSES[stage_name, kill] += misses
            misses_in_plan.append(misses)
            assert_left_whole(settings, STAGES[stage_name], before)
    finally:
        runs.discard()

    # The killed runs are not "under way" for ever (each run marks those before it failed, the sensor the
    # last one): the sensor's next tick asks for a refresh.
    tick, statuses = next_sensor_tick(settings)
    assert isinstance(tick, RunRequest), tick
    assert statuses == Counter(FAILURE=len(PLANS[plan]), SUCCESS=sum(misses_in_plan)), statuses

    assert run_to_the_end(settings).success
    oracle, raw = assert_exact(settings, baseline)

    for stage_name, kill in set(PLANS[plan]):
        report(
            "pipeline_faults",
            f"{stage_name} (kill: {kill})",
            kills=KILLS[stage_name, kill],
            runs_ended_before_the_moment=MISSES[stage_name, kill],
            moment=STAGES[stage_name].what,
            killed=KILLED[kill],
            events=oracle["events"],
            events_lost=oracle["events"] - raw["events"],
            events_counted_twice=raw["events"] - raw["distinct_event_ids"],
            processes_left_running=LEFT_RUNNING[stage_name, kill],
            serving_copy_whole_and_previous_after=KILLS[stage_name, kill],
            killed_runs_left_under_way=statuses["STARTED"],
        )
    report(
        "pipeline_faults",
        f"plan:{plan}",
        kills=[f"{stage} ({kill})" for stage, kill in PLANS[plan]],
        events=oracle["events"],
        seconds=round(time.monotonic() - began, 1),
    )
