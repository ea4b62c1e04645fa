from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIADMIN_", env_file=".env", extra="ignore")

    # Where the panel reaches the API: every action and the login go through it.
    api_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = 10.0
    # Signs the staff member's address and browser sent to the API (dashboard/forwarding.py): the API's own
    # AIADMIN_PANEL_KEY, or (unset) the file the API made in $AIADMIN_DATA_DIR/panel_key.
    panel_key: SecretStr | None = None
    data_dir: Path = Path("var")


@lru_cache
def get_dashboard_settings() -> DashboardSettings:
    return DashboardSettings()
