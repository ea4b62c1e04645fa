"""API settings: every value comes from an `AIADMIN_*` environment variable (or `.env`)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from secrets import token_urlsafe
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.core import keyfile

# The built-in key of earlier versions: public, so refused everywhere (anyone could sign tokens with it).
DEV_SECRET_KEY = "dev-secret-key-change-me-dev-secret-key-change-me"  # noqa: S105
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name under the data dir)
PANEL_KEY_FILE = "panel_key"
PORTAL_FORWARDING_KEY_FILE = "portal_forwarding_key"


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
    # Signs access tokens and keys the stored hashes of tokens. Unset: made once and kept in
    # $AIADMIN_DATA_DIR/secret_key (mode 0600), read by every process of the install; production sets it.
    secret_key: SecretStr = SecretStr("")
    access_token_minutes: int = Field(default=15, ge=1, le=15)
    jwt_audience: str = "aiadmin"
    # Header set by the trusted reverse proxy with the client's ISO country code (e.g. CF-IPCountry).
    country_header: str = "x-country"
    # How many reverse proxies (load balancers) stand in front of the API, each appending to X-Forwarded-For:
    # the client's IP is the entry that many places from the right (api/core/deps.py `client_ip`). 0: the
    # TCP peer, the header ignored; behind a proxy, every client then has the proxy's address.
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    # Signs the staff member's address and browser that the admin panel forwards (api/core/forwarded.py): the
    # panel and the API must hold the same. Unset: made once and kept in $AIADMIN_DATA_DIR/panel_key (0600),
    # which a panel on the same disk reads; a panel on another machine needs it set on both.
    panel_key: SecretStr = SecretStr("")
    # The same for the end user's address and browser that the portal forwards (docs/decisions/0051): a key
    # of its own, not the portal's cookie key (which the API must never hold), in
    # $AIADMIN_DATA_DIR/portal_forwarding_key unless set; a portal on another machine needs it set on both.
    portal_forwarding_key: SecretStr = SecretStr("")
    # Replaced by trusted_proxies (it took the header's first, client-written address): refused if set.
    client_ip_header: str | None = None
    # Fernet key for secrets stored encrypted (TOTP secrets, provider keys); unset, one is derived from the
    # secret key (so a generated secret key keeps them readable for as long as its file is kept).
    encryption_key: SecretStr | None = None

    # Strict-Transport-Security on every answer: on when AIADMIN_PUBLIC_URL is https://, or as set here.
    hsts: bool | None = None
    # /docs, /redoc and /openapi.json: served unless in production, or as set here.
    api_docs: bool | None = None
    # /metrics: open unless in production, or as set here; closed, it takes a staff token with health:read
    # or, for a scraper, `Authorization: Bearer <AIADMIN_METRICS_TOKEN>`.
    public_metrics: bool | None = None
    metrics_token: SecretStr | None = None

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
    # Mails the public endpoints send (sign-up, confirmation again, password reset): requests per address
    # and per client IP within the window, counted whether or not the address has an account; then 429.
    mail_requests_per_address: int = Field(default=5, ge=1)
    mail_requests_per_ip: int = Field(default=50, ge=1)
    mail_requests_window_minutes: int = Field(default=60, ge=1)
    # Scores of completions (POST /v1/chat/completions/{id}/feedback) one account may send a minute; then 429.
    feedback_per_minute: int = Field(default=60, ge=1)
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
    # The response cache (api/cache/, docs/decisions/0057) keeps at most this many answers: storing one
    # more removes the expired ones, then the oldest.
    response_cache_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    # Private networks that provider base URLs and alert webhooks may reach (api/core/egress.py): CIDRs or
    # addresses, comma-separated ("127.0.0.1,10.0.0.0/8" for a local Ollama and vLLM on the LAN). Empty:
    # public addresses only (never loopback, link-local cloud metadata, private, reserved).
    allowed_private_networks: Annotated[list[IPv4Network | IPv6Network], NoDecode] = []
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
    # A call, streamed or not, ends after this long (a stream with an in-band `call_time_limit` error), and
    # a stream whose client left is read on for at most `drain_seconds` more for the provider's usage: both
    # together stay below the grace period, so a call is settled before its reservation can be refunded.
    call_max_seconds: float = Field(default=600.0, gt=0)
    drain_seconds: float = Field(default=30.0, ge=0)
    reservations_interval_seconds: float = Field(default=60.0, gt=0)

    # Background jobs of the API process (api/core/periodic.py): mail delivery and alert evaluation.
    # Every replica may run them: each job claims its work in the database first.
    background_jobs: bool = True
    mail_interval_seconds: float = Field(default=5.0, gt=0)
    alerts_interval_seconds: float = Field(default=60.0, gt=0)

    @field_validator("allowed_private_networks", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        return (
            [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value
        )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.secret_key = SecretStr(self._secret_key())
        self.panel_key = SecretStr(self._forwarding_key(self.panel_key, PANEL_KEY_FILE, "AIADMIN_PANEL_KEY"))
        self.portal_forwarding_key = SecretStr(
            self._forwarding_key(
                self.portal_forwarding_key, PORTAL_FORWARDING_KEY_FILE, "AIADMIN_PORTAL_FORWARDING_KEY"
            )
        )
        if self.client_ip_header:
            raise ValueError(
                "AIADMIN_CLIENT_IP_HEADER is no longer read: unset it and set AIADMIN_TRUSTED_PROXIES to the "
                "number of proxies in front of the API (1 for one load balancer)"
            )
        if self.call_max_seconds + self.drain_seconds >= self.reservation_grace_minutes * 60:
            raise ValueError(
                "AIADMIN_CALL_MAX_SECONDS + AIADMIN_DRAIN_SECONDS must stay below "
                "AIADMIN_RESERVATION_GRACE_MINUTES (in seconds): a call still running when its reservation "
                "is refunded would be settled twice"
            )
        if self.test_top_ups is None:
            self.test_top_ups = self.environment != "production"
        self.app_url = (self.app_url or self.public_url).rstrip("/")
        self.public_url = self.public_url.rstrip("/")
        if self.hsts is None:
            self.hsts = self.public_url.startswith("https://")
        if self.api_docs is None:
            self.api_docs = self.environment != "production"
        if self.public_metrics is None:
            self.public_metrics = self.environment != "production"
        return self

    def _secret_key(self) -> str:
        """The configured secret key, or the install's own (made on first use), never the public one."""
        secret = self.secret_key.get_secret_value()
        how = "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
        if secret == DEV_SECRET_KEY:
            raise ValueError(
                "AIADMIN_SECRET_KEY is the old built-in development key, which is public: unset it (the "
                f"install then makes its own, in {self.data_dir / SECRET_KEY_FILE}) or set a random one {how}"
            )
        if not secret and self.environment == "production":
            raise ValueError(
                "AIADMIN_SECRET_KEY is not set: set it to a long random value shared by every replica "
                f"{how} before starting with AIADMIN_ENVIRONMENT=production"
            )
        if not secret:
            secret = keyfile.read_or_create(self.data_dir / SECRET_KEY_FILE, lambda: token_urlsafe(48))
        if len(secret) < 32:
            raise ValueError("AIADMIN_SECRET_KEY must be at least 32 characters long")
        return secret

    def _forwarding_key(self, configured: SecretStr, file: str, variable: str) -> str:
        """A forwarder's key (the panel's, the portal's) as configured, or the install's own (made on first
        use in the data directory, where a forwarder on the same disk reads it)."""
        key = configured.get_secret_value()
        if not key:
            key = keyfile.read_or_create(self.data_dir / file, lambda: token_urlsafe(32))
        if len(key) < 32:
            raise ValueError(
                f"{variable} must be at least 32 characters long "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
