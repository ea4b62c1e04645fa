"""The one job: extract, snapshot, dbt build with its tests and the reconciliation, publish."""

import socket

from dagster import AssetSelection, define_asset_job

REFRESH_JOB = "refresh_warehouse"
# The machine whose processes run the refreshes (the CLI's, the run workers the daemon launches beside the
# code location): where a run's process can be looked for when it seems to hang (orchestration.py).
HOST_TAG = "aiadmin/host"

refresh_warehouse = define_asset_job(
    REFRESH_JOB,
    selection=AssetSelection.all(),
    description="Extract new events and dimensions, build the dbt models and their tests, publish.",
    config={"execution": {"config": {"in_process": {}}}},
    tags={HOST_TAG: socket.gethostname()},
)
