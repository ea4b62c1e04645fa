"""The pipeline under faults (tests/reliability, tests/pipelines): a published baseline, copies of it, a run
killed at a stage and what it must leave whole."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from api.core.settings import Settings
from tests.support.figures import (
    bulk_events,
    change_plans,
    mart_figures,
    marts_match,
    oltp_figures,
    raw_figures,
    raw_matches,
)
from tests.support.processes import PipelineProcess, Stage


def _pg_admin():
    import psycopg

    from tests.conftest import POSTGRES_URL

    url = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def pg_settings(data_dir: Path, database: str) -> Settings:
    """Test settings for a PostgreSQL database of the test server and a data dir."""
    from tests.conftest import POSTGRES_URL, TEST_SECRET

    url = make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)
    return Settings(
        environment="test", secret_key=TEST_SECRET, data_dir=data_dir, database_url=url, background_jobs=False
    )


def run_to_the_end(settings: Settings):
    """One whole refresh in this process (what the `pipeline` fixture runs)."""
    from dagster import DagsterInstance

    from pipelines.definitions import build_definitions
    from pipelines.run import run_pipeline
    from warehouse.settings import WarehouseSettings

    definitions = build_definitions(settings, WarehouseSettings(data_dir=settings.data_dir))
    with DagsterInstance.ephemeral() as instance:
        return run_pipeline(definitions, instance)


@dataclass
class PublishedBaseline:
    """A database and a data dir after one published refresh, with more events and plan changes waiting."""

    root: Path  # `root/baseline` holds the data dir as the refresh left it
    database: str  # a PostgreSQL database, used as the template of each copy
    oracle: dict  # what the published copy holds
    published_at: object  # when it was published
    versions: int  # account versions in the dimension snapshot
    changed: int  # accounts whose plan changed since


@contextlib.contextmanager
def published_baseline(
    template: str, root: Path, *, events: int, pending: int, users: int
) -> Iterator[PublishedBaseline]:
    """`events` events refreshed and published, then `pending` more and a tenth of the plans changed."""
    database = f"aiadmin_faults_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    try:
        settings = pg_settings(root / "var", database)
        bulk_events(settings, events, users=users)
        run_to_the_end(settings)
        oracle = oltp_figures(settings)
        published_at = mart_figures(root / "var" / "serving.duckdb")["published_at"]
        versions = raw_figures(root / "var" / "warehouse.duckdb")["snapshots"]["versions"]
        bulk_events(settings, pending, users=users, salt=1)
        changed = change_plans(settings, every=10)
        _dagster_instance(root / "var" / "dagster")
        (root / "var").rename(root / "baseline")
        yield PublishedBaseline(root, database, oracle, published_at, versions, changed)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _dagster_instance(home: Path) -> None:
    """The Dagster instance that `aiadmin pipeline run` makes under the data dir, made now (its SQLite
    storage takes seconds to create), so that every copy of the baseline starts with it."""
    from dagster import DagsterInstance

    from pipelines.instance import DAGSTER_YAML

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)


@contextlib.contextmanager
def copy_of(baseline: PublishedBaseline, data_dir: Path) -> Iterator[Settings]:
    """A database cloned from the baseline's and its data dir copied to `data_dir` (which may exist, empty:
    a mount point). The same `data_dir` for every copy keeps dbt's partial parse valid (it is tied to the
    warehouse path)."""
    database = f"aiadmin_faults_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{baseline.database}" STRATEGY FILE_COPY')
    try:
        shutil.copytree(baseline.root / "baseline", data_dir, dirs_exist_ok=True)
        yield pg_settings(data_dir, database)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def assert_exact(settings: Settings, baseline: PublishedBaseline) -> tuple[dict, dict]:
    """After a run to the end: the raw events, the snapshots and the marts of both copies equal the oracle,
    nothing left of an interrupted publish. Returns (oracle, raw figures)."""
    import duckdb

    from pipelines.checks import reconcile
    from warehouse.queries import daily_usage
    from warehouse.settings import WarehouseSettings

    wh = WarehouseSettings(data_dir=settings.data_dir)
    oracle = oltp_figures(settings)
    raw = raw_figures(wh.warehouse_path)
    assert raw_matches(raw, oracle) == []
    assert raw["snapshots"]["versions"] == baseline.versions + baseline.changed  # each change once
    served = mart_figures(wh.serving_path)
    assert marts_match(served, oracle) == []
    assert served["published_at"] > baseline.published_at
    assert marts_match(mart_figures(wh.warehouse_path), oracle) == []
    with duckdb.connect(str(wh.warehouse_path), read_only=True) as con:
        assert reconcile(con) == []
    assert not list(settings.data_dir.glob(f".{wh.serving_path.name}.*.tmp*"))  # nor its WAL
    completions = int(daily_usage(path=wh.serving_path)["completions"].sum())
    assert completions == oracle["by_type"]["llm.call_succeeded"]
    return oracle, raw


class RunsAhead:
    """The processes of `count` runs to come, each started two runs ahead: it imports while the runs
    before it run (not all at once: the first would then wait for the imports of all)."""

    def __init__(self, settings: Settings, directory: Path, count: int, dagster_home: Path | None = None):
        self.settings, self.directory, self.dagster_home = settings, directory, dagster_home
        self.count = count
        self.spawned: list[PipelineProcess] = []
        self._spawn_until(2)

    def _spawn_until(self, count: int) -> None:
        while len(self.spawned) < min(count, self.count):
            log = self.directory / f"run-{len(self.spawned)}.log"
            self.spawned.append(PipelineProcess(self.settings, log, go=False, dagster_home=self.dagster_home))

    def take(self, index: int) -> PipelineProcess:
        self._spawn_until(index + 3)
        return self.spawned[index]

    def discard(self) -> None:
        for process in self.spawned:
            process.discard()


def before_run(settings: Settings) -> tuple[dict, dict, dict]:
    """(raw figures, serving copy figures, oracle) as they are: what a run that fails must leave."""
    from warehouse.settings import WarehouseSettings

    wh = WarehouseSettings(data_dir=settings.data_dir)
    return raw_figures(wh.warehouse_path), mart_figures(wh.serving_path), oltp_figures(settings)


def frozen_at(
    settings: Settings,
    stage: Stage,
    log: Path,
    *,
    more: Callable[[int], None],
    ready: PipelineProcess | None = None,
    dagster_home: Path | None = None,
    tries: int = 4,
) -> tuple[PipelineProcess, tuple[dict, dict, dict], int]:
    """A run (`ready`, or a new one) frozen at the stage, what was there before it, and how many runs ended
    before the moment came (each then a complete run, after which `more(attempt)` writes new events)."""
    for attempt in range(tries):
        if ready is None or attempt:
            ready = PipelineProcess(
                settings, log.with_suffix(f".{attempt}.log"), go=False, dagster_home=dagster_home
            )
        run = ready
        try:
            before = before_run(settings)  # (while the run's process imports)
            run.go()
            if run.stop_at(stage.near, stage.at):
                return run, before, attempt
            assert run.wait() == 0, run.output()[-3000:]
        except BaseException:
            run.discard()
            raise
        more(attempt)
    raise AssertionError(f"{tries} runs ended before reaching {stage.what}")


def assert_left_whole(settings: Settings, stage: Stage, before: tuple[dict, dict, dict]) -> None:
    """After a run that died or failed at `stage`: the working warehouse opens and holds every raw event once,
    or none of the run's (never a part); the serving copy is the last good one, whole, and the panel's query
    answers with its figures; a run whose dbt build had finished left exact marts."""
    from warehouse.queries import daily_usage
    from warehouse.settings import WarehouseSettings

    raw_before, served_before, oracle = before
    wh = WarehouseSettings(data_dir=settings.data_dir)
    raw = raw_figures(wh.warehouse_path)  # opens: DuckDB replays or drops what was left
    assert raw["events"] == raw["distinct_event_ids"], f"{stage.name}: an event loaded twice"
    loaded = {key: raw[key] for key in ("events", "id_sum", "distinct_event_ids", "by_type")}
    if stage.extracted:  # the run's extract committed: every event is there, once
        assert raw_matches({**raw, "snapshots": {}}, oracle) == [], stage.name
    else:  # stopped inside the extract: none of its rows is there
        assert loaded == {key: raw_before[key] for key in loaded}, stage.name
        assert raw["cursor"] == raw_before["cursor"], stage.name
    assert mart_figures(wh.serving_path) == served_before, f"{stage.name}: the serving copy changed"
    usage = daily_usage(path=wh.serving_path)
    assert int(usage["completions"].sum()) == served_before["completions"], stage.name
    if stage.built:  # the run's dbt build finished: the working marts are exact already
        assert marts_match(mart_figures(wh.warehouse_path), oracle) == [], stage.name


def next_sensor_tick(settings: Settings, dagster_home: Path | None = None) -> tuple[object, Counter[str]]:
    """One tick of the new-events sensor on the Dagster instance that `aiadmin pipeline run` and the daemon
    share (`<data dir>/dagster` unless given): what it returns, and how many runs then have each status."""
    from dagster import DagsterInstance, build_sensor_context

    from pipelines.orchestration import new_events_sensor
    from pipelines.resources import OltpResource

    with DagsterInstance.from_config(str(dagster_home or settings.data_dir / "dagster")) as instance:
        context = build_sensor_context(
            instance=instance, resources={"oltp": OltpResource(database_url=settings.database_url)}
        )
        tick = new_events_sensor(context)
        statuses = Counter(run.status.value for run in instance.get_runs())
    return tick, statuses
