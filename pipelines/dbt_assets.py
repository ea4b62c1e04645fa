"""The dbt project as Dagster assets; its tests run as asset checks."""

import os
import shutil
import sys
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from pipelines.resources import WarehouseResource

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"

# The dbt installed beside this interpreter (the project's venv), whatever the caller's PATH.
DBT_EXECUTABLE = (
    str(Path(sys.executable).with_name("dbt"))
    if Path(sys.executable).with_name("dbt").exists()
    else (shutil.which("dbt") or "dbt")
)

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def ensure_manifest() -> Path:
    """Outside `dagster dev` the manifest must exist before the definitions load: build it if missing."""
    if not dbt_project.manifest_path.exists() or os.environ.get("DAGSTER_IS_DEV_CLI"):
        dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path


@dbt_assets(manifest=ensure_manifest(), project=dbt_project)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # dbt runs as a subprocess; it finds the warehouse file through the profile's env_var.
    os.environ["AIADMIN_WAREHOUSE_PATH"] = warehouse.warehouse_path
    with warehouse.exclusive():
        yield from dbt.cli(["build"], context=context).stream()
