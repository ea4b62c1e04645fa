"""The one job: extract, snapshot, dbt build with its tests and the reconciliation, publish."""

from dagster import AssetSelection, define_asset_job

REFRESH_JOB = "refresh_warehouse"

refresh_warehouse = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.all(),
    description="Extract new events and dimensions, build the dbt models and their tests, publish.",
    config={"execution": {"config": {"in_process": {}}}},
)
