"""Resources shared by the assets: the OLTP source and the warehouse (one writer at a time)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from sqlalchemy import Engine

from api.core.db import make_sync_engine
from api.core.settings import DatabaseSettings


class OltpResource(ConfigurableResource):
    """The API's database, read by the extract.

    Left unset, the URL comes from AIADMIN_DATABASE_URL when the run starts, so it (and any password in
    it) never shows in Dagster's UI; tests set it.
    """

    database_url: str | None = None

    def settings(self) -> DatabaseSettings:
        return DatabaseSettings(database_url=self.database_url) if self.database_url else DatabaseSettings()

    def resolved_url(self) -> str:
        return self.settings().database_url

    def engine(self) -> Engine:
        return make_sync_engine(self.settings())


class WarehouseResource(ConfigurableResource):
    """The pipeline's working DuckDB file and where its serving copy is published."""

    warehouse_path: str
    serving_path: str

    @property
    def data_dir(self) -> Path:
        """Where the pipeline notes its runs (warehouse/status.py): beside the working warehouse."""
        return Path(self.warehouse_path).parent

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """The one writer slot (a pool of size 1) across threads and processes: an exclusive lock on
        `<warehouse>.lock`. Held while this process, or a subprocess it runs (dbt), writes the file;
        another writer (a second run, `aiadmin pipeline run`) waits for it instead of failing."""
        lock_path = Path(f"{self.warehouse_path}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The single writer connection, opened inside the writer slot."""
        with self.exclusive(), duckdb.connect(self.warehouse_path) as con:
            yield con
