"""Publish the marts of the working warehouse as the serving copy, atomically.

The marts are copied into a new file next to the serving copy, which is then renamed over it.
A reader that opened the old file keeps reading it; the next reader opens the new one; nobody ever
sees a half-written file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

PUBLISHED_SCHEMAS = ("marts",)
META_TABLE = "main._publication"
SERVING_STORAGE_VERSION = "v1.4.0"


@dataclass(frozen=True, slots=True)
class Publication:
    path: Path
    tables: list[str]
    published_at: datetime


def publish(
    warehouse_path: Path, serving_path: Path, schemas: tuple[str, ...] = PUBLISHED_SCHEMAS
) -> Publication:
    # A publish killed halfway leaves its temporary file (and DuckDB's WAL of it) behind: never renamed, so
    # no reader saw it; the next publish (under the same writer lock) clears them away.
    for stale in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    tmp_path = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    published_at = datetime.now(UTC).replace(tzinfo=None)
    try:
        tables = _copy_marts(warehouse_path, tmp_path, schemas, published_at)
        _fsync(tmp_path)
        os.replace(tmp_path, serving_path)
    except BaseException:
        # A copy that failed (a full disk, say) is removed at once: it would only take the space that the
        # next run needs. The serving copy was not touched.
        for partial in (tmp_path, tmp_path.with_name(f"{tmp_path.name}.wal")):
            partial.unlink(missing_ok=True)
        raise
    _fsync(serving_path.parent)
    return Publication(serving_path, tables, published_at.replace(tzinfo=UTC))


def _copy_marts(
    warehouse_path: Path, tmp_path: Path, schemas: tuple[str, ...], published_at: datetime
) -> list[str]:
    """The marts copied into a new DuckDB file at `tmp_path`, checkpointed (no WAL left beside it)."""
    tables: list[str] = []
    with duckdb.connect() as con:
        con.execute("ATTACH ? AS src (READ_ONLY)", [str(warehouse_path)])
        # Written in a storage format that DuckDB 1.4-based readers (JDBC/ODBC drivers of BI tools) open.
        con.execute(f"ATTACH ? AS serving (STORAGE_VERSION '{SERVING_STORAGE_VERSION}')", [str(tmp_path)])
        try:
            rows = con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_catalog = 'src' AND table_type = 'BASE TABLE' "
                "AND table_schema IN (SELECT unnest(?)) "
                "ORDER BY 1, 2",
                [list(schemas)],
            ).fetchall()
            for schema in schemas:
                con.execute(f'CREATE SCHEMA serving."{schema}"')
            for schema, table in rows:
                # Identifiers come from the warehouse's own catalogue, quoted.
                con.execute(
                    f'CREATE TABLE serving."{schema}"."{table}" AS SELECT * FROM src."{schema}"."{table}"'  # noqa: S608
                )
                tables.append(f"{schema}.{table}")
            con.execute(f"CREATE TABLE serving.{META_TABLE} (published_at TIMESTAMP, tables VARCHAR[])")
            con.execute(f"INSERT INTO serving.{META_TABLE} VALUES (?, ?)", [published_at, tables])  # noqa: S608
            con.execute("CHECKPOINT serving")  # everything in the file itself: it is renamed without a WAL
        finally:
            con.execute("DETACH serving")
            con.execute("DETACH src")
    return tables


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
