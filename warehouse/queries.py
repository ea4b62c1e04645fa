"""The analytics queries that the panel and the analytics API share, on the serving copy only."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from warehouse.settings import get_warehouse_settings


class ServingNotReady(Exception):
    """No serving copy has been published yet: run the pipeline first."""


def connect_serving(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published copy; it never takes a write lock."""
    path = path or get_warehouse_settings().serving_path
    if not path.exists():
        raise ServingNotReady(f"no published warehouse at {path}: run `aiadmin pipeline run`")
    return duckdb.connect(str(path), read_only=True)


def daily_usage(
    start: date | None = None, end: date | None = None, *, path: Path | None = None
) -> pd.DataFrame:
    """One row per UTC day: active users, completions and tokens in and out."""
    with connect_serving(path) as con:
        return con.execute(
            """
            SELECT day, active_users, completions, input_tokens, output_tokens
            FROM marts.daily_usage
            WHERE (CAST(? AS DATE) IS NULL OR day >= ?) AND (CAST(? AS DATE) IS NULL OR day <= ?)
            ORDER BY day
            """,
            [start, start, end, end],
        ).df()
