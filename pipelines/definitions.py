"""The Dagster definitions: `pipelines.definitions:defs` (workspace.yaml)."""

__all__ = ["REFRESH_JOB", "build_definitions", "defs"]

from dagster import Definitions

from api.core.settings import DatabaseSettings
from pipelines.checks import reconciles_with_raw_events
from pipelines.dbt_assets import dbt_models, dbt_resource
from pipelines.dimensions import raw_dimensions
from pipelines.extract import raw_usage_events
from pipelines.intents import raw_intents
from pipelines.jobs import REFRESH_JOB, refresh_warehouse
from pipelines.orchestration import daily_refresh, new_events_sensor, note_failed_runs, note_succeeded_runs
from pipelines.publish import serving_warehouse
from pipelines.resources import OltpResource, WarehouseResource
from warehouse.settings import WarehouseSettings, get_warehouse_settings


def build_definitions(
    database: DatabaseSettings | None = None, warehouse: WarehouseSettings | None = None
) -> Definitions:
    """The definitions for these settings; by default the database comes from the environment at run time."""
    warehouse = warehouse or get_warehouse_settings()
    return Definitions(
        assets=[raw_usage_events, raw_dimensions, raw_intents, dbt_models, serving_warehouse],
        asset_checks=[reconciles_with_raw_events],
        jobs=[refresh_warehouse],
        schedules=[daily_refresh],
        sensors=[new_events_sensor, note_succeeded_runs, note_failed_runs],
        resources={
            "oltp": OltpResource(database_url=database.database_url if database else None),
            "warehouse": WarehouseResource(
                warehouse_path=str(warehouse.warehouse_path), serving_path=str(warehouse.serving_path)
            ),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
