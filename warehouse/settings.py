from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WarehouseSettings(BaseSettings):
    """`AIADMIN_DATA_DIR` holds the pipeline's working warehouse and the published serving copy."""

    model_config = SettingsConfigDict(env_prefix="AIADMIN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("var")

    @model_validator(mode="after")
    def _resolve(self) -> WarehouseSettings:
        self.data_dir = self.data_dir.expanduser().resolve()
        return self

    @property
    def warehouse_path(self) -> Path:
        """The pipeline's working copy: only the pipeline opens it, and for writing."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def serving_path(self) -> Path:
        """The published copy that the panel, the API and BI tools read."""
        return self.data_dir / "serving.duckdb"


@lru_cache
def get_warehouse_settings() -> WarehouseSettings:
    return WarehouseSettings()
