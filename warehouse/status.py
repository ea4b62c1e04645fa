"""The pipeline's last runs, as a small JSON file beside the warehouse: written by the pipeline, read by the
API's health endpoint and the panel (neither needs Dagster to know whether the warehouse is fresh)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUS_FILE = "pipeline_status.json"


def status_path(data_dir: Path) -> Path:
    return data_dir / STATUS_FILE


def record_run(
    data_dir: Path,
    *,
    run_id: str,
    succeeded: bool,
    finished_at: datetime | None = None,
    failed_steps: list[str] | None = None,
    message: str | None = None,
) -> None:
    """Note a finished run (atomically: a reader sees the old file or the new one)."""
    path = status_path(data_dir)
    status = read_status(data_dir)
    run = {
        "run_id": run_id,
        "status": "success" if succeeded else "failure",
        "finished_at": (finished_at or datetime.now(UTC)).isoformat(),
        "failed_steps": failed_steps or [],
        "message": (message or "")[:1000] or None,
    }
    status["last_run"] = run
    status["last_success" if succeeded else "last_failure"] = run
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(status, indent=2))
        os.replace(tmp, path)
    except OSError:  # a full disk: the last status stays as it was, and no half-written file is left
        tmp.unlink(missing_ok=True)
        raise


def read_status(data_dir: Path) -> dict[str, Any]:
    """{"last_run": …, "last_success": …, "last_failure": …}; empty before the first run."""
    try:
        return json.loads(status_path(data_dir).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def published_at(serving_path: Path) -> datetime | None:
    """When the serving copy was published (None: never)."""
    import duckdb

    if not serving_path.exists():
        return None
    try:
        with duckdb.connect(str(serving_path), read_only=True) as con:
            (value,) = con.execute("SELECT max(published_at) FROM main._publication").fetchone()
    except duckdb.Error:
        return None
    return value.replace(tzinfo=UTC) if value else None
