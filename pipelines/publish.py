"""Publish: swap the serving copy for the freshly built marts, atomically."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from pipelines.dbt_assets import dbt_models
from pipelines.resources import WarehouseResource
from warehouse.publish import publish


@asset(
    deps=[dbt_models],
    group_name="serving",
    description="The read-only copy of the marts that the panel, the API and BI tools query.",
    kinds={"duckdb"},
)
def serving_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.exclusive():
        publication = publish(Path(warehouse.warehouse_path), Path(warehouse.serving_path))
    context.log.info(f"published {len(publication.tables)} tables to {publication.path}")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(publication.path)),
            "tables": MetadataValue.json(publication.tables),
            "published_at": MetadataValue.text(publication.published_at.isoformat()),
        }
    )
