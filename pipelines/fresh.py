"""The fresh lane: new usage events into the serving copy within seconds (decision record 0041).

The full refresh (pipelines/jobs.py, launched by Dagster) extracts events and dimensions, snapshots the
dimensions, builds every dbt model with its tests and publishes: 20-40 s, most of it dbt starting and
Dagster launching a run. The fresh lane does only what a new event needs, in a process that stays up
(`aiadmin pipeline watch`, pipelines/watch.py), so nothing is started per event:

1. extract the new events (the same exactly-once extract as the refresh, pipelines/extract.py);
2. rebuild the models downstream of the events (`stg_usage_events+`): dbt compiles them once, when the
   watcher starts (`dbt compile`, in a process of its own); each run then executes that compiled SQL in one
   DuckDB transaction, as dbt's materialisations would: a table model is replaced, an incremental model
   (its SQL reads only what is new since its last build) has its rows of the new keys deleted and the new
   rows inserted, a view is left as it is. `dbt run` of the same models costs a second or more per model
   in dbt's own work; this, a fraction of a second in all (decision record 0041);
3. reconcile the marts with the raw events in that transaction (pipelines/checks.py): a difference rolls
   it back, and nothing is published;
4. publish the serving copy atomically (warehouse/publish.py).

Steps 2-4 hold the warehouse's writer lock (decision record 0007), so the lane and a Dagster run never
write at the same time: each waits for the other. A compiled model stays valid between full refreshes:
its SQL names relations, not their contents, and an incremental model's limits are subqueries on its own
table, read when it runs. The dimension snapshots, the dbt tests and the
dimensions themselves (a new plan, a renamed model) stay with the full refresh on its schedule.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.checks import reconcile
from pipelines.dbt_assets import DBT_BOUND, DBT_DIR, dbt_target_path
from pipelines.extract import extract_usage_events
from pipelines.resources import OltpResource, WarehouseResource
from warehouse.publish import Publication, publish
from warehouse.settings import WarehouseSettings

# The models a new event changes: the events' staging view and everything built on it.
FRESH_SELECTION = "stg_usage_events+"


class FreshLaneFailed(Exception):
    """dbt or a model failed, or the marts disagree with the raw events: the warehouse and the serving copy
    were left as they were."""


@dataclass(frozen=True, slots=True)
class FreshRun:
    events: int
    publication: Publication | None
    seconds: dict[str, float]


class FreshLane:
    """One warehouse's fresh lane; `run()` once per batch of new events (the watcher calls it)."""

    def __init__(self, oltp: OltpResource, warehouse: WarehouseResource) -> None:
        self.oltp = oltp
        self.warehouse = warehouse
        self._models: list[CompiledModel] | None = None  # compiled at the first run

    @classmethod
    def of(cls, warehouse: WarehouseSettings, database_url: str | None = None) -> FreshLane:
        """The lane of these settings; the database, when not given, from the environment at each run."""
        return cls(
            OltpResource(database_url=database_url),
            WarehouseResource(
                warehouse_path=str(warehouse.warehouse_path), serving_path=str(warehouse.serving_path)
            ),
        )

    def run(self, force: bool = False) -> FreshRun:
        """Extract; when something new came (or `force`), rebuild, reconcile and publish."""
        seconds: dict[str, float] = {}
        began = time.perf_counter()
        stats = extract_usage_events(self.oltp, self.warehouse)
        seconds["extract"] = time.perf_counter() - began
        if not stats["inserted"] and not force:
            return FreshRun(0, None, seconds)
        with self.warehouse.exclusive():
            began = time.perf_counter()
            models = self._compiled()
            seconds["compile"] = time.perf_counter() - began
            began = time.perf_counter()
            with duckdb.connect(self.warehouse.warehouse_path) as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    for model in models:
                        try:
                            model.build(con)
                        except duckdb.Error as error:
                            raise FreshLaneFailed(f"{model.relation} failed: {error}") from error
                    seconds["models"] = time.perf_counter() - began
                    began = time.perf_counter()
                    differences = reconcile(con)
                    if differences:
                        raise FreshLaneFailed(f"the marts disagree with the raw events: {differences[:3]}")
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            seconds["reconcile"] = time.perf_counter() - began
            began = time.perf_counter()
            publication = publish(Path(self.warehouse.warehouse_path), Path(self.warehouse.serving_path))
            seconds["publish"] = time.perf_counter() - began
        return FreshRun(stats["inserted"], publication, seconds)

    def prepare(self) -> None:
        """Compile the models now (the watcher does at its start), not at the first new event."""
        with self.warehouse.exclusive():
            self._compiled()

    def _compiled(self) -> list[CompiledModel]:
        if self._models is None:
            self._models = self._compile()
        return self._models

    def _compile(self) -> list[CompiledModel]:
        """The selected models' SQL as dbt compiles it for this warehouse, in dependency order: `dbt compile`
        in a process of its own, started as the refresh starts dbt (pipelines/dbt_bound.sh), read from the
        manifest and the run results it writes. In this process, dbt would keep the warehouse file open after
        it (dbt-duckdb's `keep_open`), and no other process could open it."""
        target = dbt_target_path(self.warehouse) / "fresh"
        args = [DBT_BOUND, "compile", "--select", f"{FRESH_SELECTION},resource_type:model", "--quiet"]
        args += ["--profiles-dir", str(DBT_DIR), "--target-path", str(target), "--log-path", str(target)]
        # The profile finds the warehouse through this variable (dbt/profiles.yml).
        env = {**os.environ, "AIADMIN_WAREHOUSE_PATH": str(self.warehouse.warehouse_path)}
        env["DBT_PROJECT_DIR"] = str(DBT_DIR)
        done = subprocess.run(args, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=600)  # noqa: S603 (argv from constants)
        if done.returncode != 0:
            raise FreshLaneFailed(f"dbt compile failed: {(done.stdout + done.stderr)[-2000:]}")
        nodes = json.loads((target / "manifest.json").read_text())["nodes"]
        results = json.loads((target / "run_results.json").read_text())["results"]
        # In the order dbt ran them: its dependency order (the profile's one thread).
        compiled = [nodes[r["unique_id"]] for r in results if r["unique_id"].startswith("model.")]
        models = [CompiledModel.of(node) for node in compiled]
        return [m for m in models if m.materialized != "view"]


@dataclass(frozen=True, slots=True)
class CompiledModel:
    relation: str  # quoted, as dbt names it: "warehouse"."marts"."mart_usage_daily"
    materialized: str  # table, incremental or view
    sql: str
    unique_key: tuple[str, ...]

    @classmethod
    def of(cls, node: dict) -> CompiledModel:
        """From a model's entry in dbt's manifest."""
        config = node["config"]
        key, materialized = config.get("unique_key") or (), config["materialized"]
        if materialized not in ("table", "incremental", "view"):
            raise FreshLaneFailed(f"{node['name']}: the fresh lane cannot build a {materialized}")
        if materialized == "incremental" and not key:
            raise FreshLaneFailed(f"{node['name']}: an incremental model needs a unique_key here")
        return cls(
            node["relation_name"], materialized, node["compiled_code"],
            (key,) if isinstance(key, str) else tuple(key),
        )  # fmt: skip

    def build(self, con: duckdb.DuckDBPyConnection) -> None:
        """Relation names and keys come from dbt's manifest (quoted by dbt); the SQL is the model's own."""
        if self.materialized == "table":
            con.execute(f"CREATE OR REPLACE TABLE {self.relation} AS {self.sql}")
            return
        keys = ", ".join(f'"{k}"' for k in self.unique_key)
        con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_rows AS {self.sql}")
        con.execute(f"DELETE FROM {self.relation} WHERE ({keys}) IN (SELECT {keys} FROM fresh_rows)")  # noqa: S608
        con.execute(f"INSERT INTO {self.relation} BY NAME SELECT * FROM fresh_rows")  # noqa: S608
        con.execute("DROP TABLE fresh_rows")
