from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIADMIN_", env_file=".env", extra="ignore")

    # Where the panel reaches the API: every action and the login go through it.
    api_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = 10.0


@lru_cache
def get_dashboard_settings() -> DashboardSettings:
    return DashboardSettings()
