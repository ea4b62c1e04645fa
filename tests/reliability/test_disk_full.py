"""The warehouse's disk fills up during a refresh: the run fails cleanly, the panel keeps the last good
figures, and once space is back the next run gives exact totals.

The disk is real, not a stand-in (RLIMIT_FSIZE and the like): the data dir, with everything the pipeline
writes there (the working warehouse, its WAL and temporary directory, dbt's target and log directory, the
Dagster instance of `aiadmin pipeline run`, the status file, the serving copy and its temporary file), is
a small tmpfs mounted for the test (`mount -t tmpfs -o size=…`: root, as CI runs on the same kind of
machine). Where mounting is refused the test is skipped, saying so: a loop-mounted image needs the same
privilege, and RLIMIT_FSIZE (EFBIG past a file size, in one process) is no full disk for dbt and Dagster's
storage. The run is frozen at a chosen moment (tests/support/processes.py `STAGES`), the free space is
taken to the last byte by a filler file, and the run goes on: whatever it writes next fails with ENOSPC, as
on a full disk.

After the failure: `aiadmin pipeline run` exits with status 1 and its last line says that the disk is full
(and, when Dagster could record it, which step failed); nothing of the run goes on (its dbt neither); the
working warehouse opens and holds each event once (or none of the failed extract's); the serving copy is
the previous one, whole, and the panel's query answers from it; no partial serving copy is left to take
space; the status file holds this failure or, when even that could not be written, the run before (never
torn).
The filler is then removed: the next run repairs what the failure left, the sensor does not take the
failed runs for ones under way, and a last `aiadmin pipeline run` on the same disk gives exact totals.

The fast profile fills the disk in turn during the extract, inside dbt's incremental fact table and while
the new serving copy is written, with Dagster's storage on the full disk (the default layout); the long
profile also fills it during the dimension copy, a dimension snapshot and the reconciliation check, and
does it all again with Dagster's storage on another disk (as with a PostgreSQL-backed instance).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from dagster import RunRequest

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
)
from tests.support.processes import STAGES, PipelineProcess
from warehouse.settings import WarehouseSettings
from warehouse.status import status_path

pytestmark = [pytest.mark.postgres, pytest.mark.long]  # minutes each: `make test-long`

TOUR = ["extract", "dbt:fct_llm_calls", "publish"]
if PROFILE.name == "long":
    BASE_EVENTS, PENDING_EVENTS, MORE_EVENTS, USERS = 1_000_000, 300_000, 50_000, 20_000
    PLANS = {
        "tour": TOUR,
        **{stage: [stage] for stage in ("dimensions", "dbt:snap_accounts", "between:dbt-publish")},
    }
    # Dagster's own storage on the full disk (`<data dir>/dagster`, the default) or on another one (as with
    # a PostgreSQL-backed instance): then the failed step itself is recorded, and named.
    DAGSTER_HOMES = ["on the full disk", "on another disk"]
else:
    BASE_EVENTS, PENDING_EVENTS, MORE_EVENTS, USERS = 30_000, 100_000, 5_000, 10_000
    PLANS = {"tour": TOUR}
    DAGSTER_HOMES = ["on the full disk"]
HEADROOM_MB = 160  # free space on the small disk: more than a run writes before the disk is filled


@pytest.fixture(scope="module")
def baseline(pg_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("disk-full")
    with published_baseline(
        pg_template, root, events=BASE_EVENTS, pending=PENDING_EVENTS, users=USERS
    ) as published:
        yield published


def _size_mb(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) // 2**20 + 1


@pytest.fixture
def small_disk(baseline):
    """The data dir on a tmpfs of the baseline's size plus HEADROOM_MB, with the baseline copied onto it."""
    mount_point = baseline.root / "var"
    shutil.rmtree(mount_point, ignore_errors=True)
    mount_point.mkdir()
    size = _size_mb(baseline.root / "baseline") + HEADROOM_MB
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}m,mode=0755", "aiadmin-disk-full", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"a small disk needs `mount -t tmpfs` (root, CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        with copy_of(baseline, mount_point) as settings:
            yield settings
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system under `directory`: what is written next fails (ENOSPC)."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for block in (b"\0" * 2**20, b"\0" * 4096, b"\0"):
            while True:
                try:
                    os.write(fd, block)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    return filler


@pytest.mark.parametrize("dagster", DAGSTER_HOMES)
@pytest.mark.parametrize("plan", list(PLANS))
def test_a_full_disk_fails_the_run_cleanly_keeps_the_serving_copy_and_the_next_run_is_exact(
    plan, dagster, baseline, small_disk, tmp_path
):
    settings = small_disk
    home = tmp_path / "dagster" if dagster == "on another disk" else None
    wh = WarehouseSettings(data_dir=settings.data_dir)
    assert marts_match(mart_figures(wh.serving_path), baseline.oracle) == []  # the last good copy
    began = time.monotonic()
    failures = {}

    # Each run's process imports ahead of its turn (the last one: the run once space is back).
    runs = RunsAhead(settings, tmp_path, len(PLANS[plan]) + 1, dagster_home=home)
    try:
        for index, stage_name in enumerate(PLANS[plan]):
            stage = STAGES[stage_name]
            if index:  # the API kept writing: every run has new events to extract
                bulk_events(settings, MORE_EVENTS, users=USERS, salt=100 + index)
            run, before, misses = frozen_at(
                settings,
                stage,
                tmp_path / f"{index}-{stage_name.replace(':', '-')}",
                more=lambda n, i=index: bulk_events(
                    settings, PENDING_EVENTS, users=USERS, salt=1000 + 10 * i + n
                ),
                ready=runs.take(index),
                dagster_home=home,
            )
            filler = _fill(settings.data_dir)
            tree = run.tree()
            run.thaw()
            code = run.wait()
            assert PipelineProcess.survivors(tree) == []  # its dbt did not go on alone
            output = run.output()
            last_line = output.strip().splitlines()[-1]
            assert code == 1, output[-5000:]
            assert last_line.startswith("error: pipeline run "), output[-5000:]
            assert "No space left on device" in last_line, output[-5000:]
            if home:  # Dagster could record the step's failure: the message names the step
                assert "failed: steps []" not in last_line, last_line
            assert_left_whole(settings, stage, before)
            assert not list(settings.data_dir.glob(".serving.duckdb.*.tmp*"))  # no partial copy takes space
            # What the health endpoint reads: this failure, or (when even that could not be written) the
            # run before; never a torn file, never this run as a success.
            run_id = last_line.removeprefix("error: pipeline run ").split()[0]
            noted = json.loads(status_path(settings.data_dir).read_text())
            recorded = noted["last_run"]["run_id"] == run_id
            assert not recorded or noted["last_run"]["status"] == "failure", noted
            filler.unlink()  # space is back
            failures[stage_name] = {
                "exit_code": code,
                "runs_ended_before_the_moment": misses,
                "failure_recorded": recorded,
                "error": last_line[:400],
            }

        # Runs that Dagster could not even finish recording are not "under way" for ever.
        tick, statuses = next_sensor_tick(settings, home)
        assert isinstance(tick, RunRequest), tick
        assert statuses["FAILURE"] == len(PLANS[plan]) and set(statuses) <= {"FAILURE", "SUCCESS"}, statuses
        # Once space is back, `aiadmin pipeline run` (the same Dagster instance, on the same disk) succeeds.
        rerun = runs.take(len(PLANS[plan]))
        rerun.go()
        assert rerun.wait() == 0, rerun.output()[-5000:]
    finally:
        runs.discard()
    oracle, raw = assert_exact(settings, baseline)

    for stage_name, failure in failures.items():
        report(
            "disk_full",
            f"{stage_name} (Dagster's storage {dagster})",
            moment=STAGES[stage_name].what,
            events=oracle["events"],
            events_lost=oracle["events"] - raw["events"],
            events_counted_twice=raw["events"] - raw["distinct_event_ids"],
            **failure,
        )
    report(
        "disk_full",
        f"plan:{plan} (Dagster's storage {dagster})",
        stages=PLANS[plan],
        disk="tmpfs",
        seconds=round(time.monotonic() - began, 1),
    )
