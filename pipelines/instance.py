"""The Dagster instance under the data dir: one place for the webserver, the daemon and the CLI."""

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by aiadmin. Local storage (SQLite) under this folder; see docs/operations.md for PostgreSQL storage.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    # The warehouse has a single writer: one run at a time.
    max_concurrent_runs: 1
"""


def ensure_dagster_home(data_dir: Path) -> Path:
    """Create `<data_dir>/dagster` with its dagster.yaml (kept if present) and point DAGSTER_HOME at it."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
