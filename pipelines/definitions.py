"""The Dagster definitions: `pipelines.definitions:defs` (workspace.yaml)."""

from dagster import AssetSelection, Definitions, define_asset_job

from api.core.settings import DatabaseSettings
from pipelines.checks import reconciles_with_raw_events
from pipelines.dbt_assets import dbt_models, dbt_resource
from pipelines.dimensions import raw_dimensions
from pipelines.extract import raw_usage_events
from pipelines.publish import serving_warehouse
from pipelines.resources import OltpResource, WarehouseResource
from warehouse.settings import WarehouseSettings, get_warehouse_settings

REFRESH_JOB = "refresh_warehouse"

refresh_warehouse = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.all(),
    description="Extract new events, build the dbt models and tests, publish the serving copy.",
    config={"execution": {"config": {"in_process": {}}}},
)


def build_definitions(
    database: DatabaseSettings | None = None, warehouse: WarehouseSettings | None = None
) -> Definitions:
    """The definitions for these settings; by default the database comes from the environment at run time."""
    warehouse = warehouse or get_warehouse_settings()
    return Definitions(
        assets=[raw_usage_events, raw_dimensions, dbt_models, serving_warehouse],
        asset_checks=[reconciles_with_raw_events],
        jobs=[refresh_warehouse],
        resources={
            "oltp": OltpResource(database_url=database.database_url if database else None),
            "warehouse": WarehouseResource(
                warehouse_path=str(warehouse.warehouse_path), serving_path=str(warehouse.serving_path)
            ),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions()
