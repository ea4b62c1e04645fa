"""Resources shared by the assets: the OLTP source and the warehouse (one writer at a time)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from sqlalchemy import Engine

from api.core.db import make_sync_engine
from api.core.settings import Settings

# DuckDB lets one process write a file at a time; inside this process, writers queue here too.
_WRITER_POOL = threading.BoundedSemaphore(1)


class OltpResource(ConfigurableResource):
    """The API's database, read by the extract (the URL as in AIADMIN_DATABASE_URL)."""

    database_url: str

    def engine(self) -> Engine:
        return make_sync_engine(Settings(database_url=self.database_url))


class WarehouseResource(ConfigurableResource):
    """The pipeline's working DuckDB file and where its serving copy is published."""

    warehouse_path: str
    serving_path: str

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The single writer connection (a pool of size 1)."""
        Path(self.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
        with _WRITER_POOL, duckdb.connect(self.warehouse_path) as con:
            yield con

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writer slot while a subprocess (dbt) writes the file."""
        with _WRITER_POOL:
            yield
