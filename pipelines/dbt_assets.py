"""The dbt project as Dagster assets; its tests run as asset checks."""

import os
import shutil
import sys
from functools import cached_property
from importlib import metadata
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from packaging import version

from pipelines.resources import WarehouseResource

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"

# The dbt installed beside this interpreter (the project's venv), whatever the caller's PATH.
DBT_EXECUTABLE = (
    str(Path(sys.executable).with_name("dbt"))
    if Path(sys.executable).with_name("dbt").exists()
    else (shutil.which("dbt") or "dbt")
)

# What the pipeline runs: that dbt, killed with the process that starts it (see dbt_bound.sh).
DBT_BOUND = str(Path(__file__).with_name("dbt_bound.sh"))
os.environ.setdefault("AIADMIN_DBT", DBT_EXECUTABLE)

dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
PARTIAL_PARSE = "partial_parse.msgpack"  # dbt's parsed project, reused while the project is unchanged


class _VenvDbtCliResource(DbtCliResource):
    """dagster-dbt asks the dbt executable for its version at every run (`dbt --version`: a whole dbt start,
    seconds of CPU); when that is the venv's dbt, its version is that of the dbt-core package installed."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(metadata.version("dbt-core"))


def dbt_resource() -> DbtCliResource:
    venv_dbt = DBT_EXECUTABLE == str(Path(sys.executable).with_name("dbt"))
    resource = _VenvDbtCliResource if venv_dbt else DbtCliResource
    return resource(project_dir=dbt_project, dbt_executable=DBT_BOUND)


def ensure_manifest() -> Path:
    """Outside `dagster dev` the manifest must exist before the definitions load: build it if missing."""
    if not dbt_project.manifest_path.exists() or os.environ.get("DAGSTER_IS_DEV_CLI"):
        dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path


def dbt_target_path(warehouse: WarehouseResource) -> Path:
    """dbt's target and log directory for this warehouse: one, beside it, reused by every run.

    Left to itself, dagster-dbt gives each run a new `dbt/target/<step>-<run>` directory (~5 MB of
    manifest, compiled SQL and debug log) and never removes it: a refresh every few minutes fills the
    disk. One directory per warehouse stays bounded (dbt rotates its log), is only written under the
    writer lock, and keeps dbt's partial-parse state for this warehouse's profile (whose path is part of
    it), so that a run does not parse the whole project again. A new one starts from the state `make
    manifest` saved, which holds for every warehouse (dbt_bound.sh names the file relatively).
    """
    target = warehouse.data_dir / "dbt-target"
    saved = Path(dbt_project.target_path) / PARTIAL_PARSE
    if not (target / PARTIAL_PARSE).exists() and saved.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, target / PARTIAL_PARSE)
    return target


@dbt_assets(manifest=ensure_manifest(), project=dbt_project)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # dbt runs as a subprocess; it finds the warehouse file through the profile's env_var.
    os.environ["AIADMIN_WAREHOUSE_PATH"] = warehouse.warehouse_path
    with warehouse.exclusive():
        yield from dbt.cli(["build"], context=context, target_path=dbt_target_path(warehouse)).stream()
