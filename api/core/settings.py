"""API settings: every value comes from an `AIADMIN_*` environment variable (or `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-secret-key-change-me-dev-secret-key-change-me"  # noqa: S105 (refused in production)


class DatabaseSettings(BaseSettings):
    """Where the OLTP database is: all that the pipeline needs of the API's settings (no secrets)."""

    model_config = SettingsConfigDict(env_prefix="AIADMIN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str = ""
    sqlite_busy_timeout_ms: int = 30_000

    @model_validator(mode="after")
    def _resolve_database(self) -> DatabaseSettings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'aiadmin.db'}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class Settings(DatabaseSettings):
    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    access_token_minutes: int = Field(default=15, ge=1, le=15)
    jwt_audience: str = "aiadmin"
    # Header set by the trusted reverse proxy with the client's ISO country code (e.g. CF-IPCountry).
    country_header: str = "x-country"
    # Header set by the trusted reverse proxy with the client's IP (e.g. X-Forwarded-For, X-Real-IP);
    # its first address is taken. Unset: the TCP peer's address. Never set it without such a proxy.
    client_ip_header: str | None = None
    # Fernet key for secrets stored encrypted (TOTP secrets); unset, one is derived from the secret key.
    encryption_key: SecretStr | None = None

    # Requests refused at the door (api/core/request_guard.py): bodies over this size (413), JSON nested
    # deeper than this (400).
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4, le=512)

    # Sessions and one-time links.
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    email_token_hours: int = Field(default=48, ge=1)
    reset_token_minutes: int = Field(default=30, ge=5, le=24 * 60)
    require_email_verification: bool = True
    # Where links in emails point: the API (email confirmation) and the end-user app (password reset page).
    public_url: str = "http://127.0.0.1:8000"
    app_url: str = ""

    # Brute force (docs/decisions/0032): failed password or second-factor checks within the window, per
    # account from one client IP, per client IP, and per account from IPs it has not signed in from in the
    # last `login_usual_source_days`, before 429; each lockout of one doubles, up to the cap.
    login_throttle_minutes: int = Field(default=15, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_max_failures_per_account_any_source: int = Field(default=20, ge=1)
    login_usual_source_days: int = Field(default=90, ge=1)
    login_max_lockout_minutes: int = Field(default=24 * 60, ge=1)

    # The model catalogue is re-read from the database at most this often (a change made through this
    # process applies at once).
    catalogue_cache_seconds: float = Field(default=5.0, ge=0)
    # On PostgreSQL, a completion's bookkeeping runs as plain SQL on its own asyncpg pool of up to this
    # many connections (api/gateway/fastlane.py); false: through the ORM session, as on SQLite.
    fast_lane: bool = True
    fast_lane_pool_size: int = Field(default=20, ge=1, le=1000)
    # Test mode: the offline mock provider obeys `metadata.mock` ("fail", "stall", "slow") in requests.
    mock_faults: bool = False
    # Make every call of the offline mock fail, stall or stream slowly (to show fallback and refunds).
    mock_fault: Literal["fail", "stall", "slow"] | None = None
    # Test top-ups (credits without a payment): allowed unless in production, or as set here.
    test_top_ups: bool | None = None

    # Email: the console sender (the log) unless an SMTP host is set.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    mail_from: str = "aiadmin <no-reply@aiadmin.example.com>"

    # A paid call's reservation not settled after this long (the database or the process went away between
    # its two transactions) is refunded in full by the "reservations" job (api/billing/recovery.py). It
    # must exceed the longest a call can take: providers' timeouts times their attempts.
    reservation_grace_minutes: float = Field(default=30.0, gt=0)
    reservations_interval_seconds: float = Field(default=60.0, gt=0)

    # Background jobs of the API process (api/core/periodic.py): mail delivery and alert evaluation.
    # Every replica may run them: each job claims its work in the database first.
    background_jobs: bool = True
    mail_interval_seconds: float = Field(default=5.0, gt=0)
    alerts_interval_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise ValueError(
                "AIADMIN_SECRET_KEY is the development default: set AIADMIN_SECRET_KEY to a long random "
                "value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) before "
                "starting with AIADMIN_ENVIRONMENT=production"
            )
        if self.test_top_ups is None:
            self.test_top_ups = self.environment != "production"
        self.app_url = (self.app_url or self.public_url).rstrip("/")
        self.public_url = self.public_url.rstrip("/")
        if len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("AIADMIN_SECRET_KEY must be at least 32 characters long")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
