"""API settings: every value comes from an `AIADMIN_*` environment variable (or `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-secret-key-change-me-dev-secret-key-change-me"  # noqa: S105 (refused in production)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIADMIN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    access_token_minutes: int = Field(default=15, ge=1, le=15)
    jwt_audience: str = "aiadmin"
    # Header set by the trusted reverse proxy with the client's ISO country code (e.g. CF-IPCountry).
    country_header: str = "x-country"
    sqlite_busy_timeout_ms: int = 30_000

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'aiadmin.db'}"
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise ValueError(
                "AIADMIN_SECRET_KEY is the development default: set AIADMIN_SECRET_KEY to a long random "
                "value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) before "
                "starting with AIADMIN_ENVIRONMENT=production"
            )
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("AIADMIN_SECRET_KEY must be at least 32 characters long")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
