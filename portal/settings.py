"""The portal's settings (AIADMIN_* variables, as the API's and the panel's)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

import signed_origin


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIADMIN_", env_file=".env", extra="ignore")

    # Where the portal reaches the API: every page that does something calls it over HTTP.
    api_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = 10.0
    # Encrypts the session cookie (the user's API tokens) and signs the CSRF tokens. Every portal process
    # must share it: set AIADMIN_PORTAL_KEY, or (unset) the processes of one machine share the file made in
    # $AIADMIN_DATA_DIR/portal_key.
    portal_key: SecretStr | None = None
    data_dir: Path = Path("var")
    # Signs the end user's address and browser sent to the API (portal/forwarding.py): the API's own
    # AIADMIN_PORTAL_FORWARDING_KEY, or (unset) the file the API made in
    # $AIADMIN_DATA_DIR/portal_forwarding_key.
    portal_forwarding_key: SecretStr | None = None
    # Proxies of the portal's own in front of it, each appending to X-Forwarded-For: the user's address is
    # the entry that many places from the right. 0: the socket's peer, the header ignored.
    portal_trusted_proxies: int = Field(default=0, ge=0, le=10)

    def forwarding_key(self) -> str | None:
        """Read at each call: a portal started before the API finds the key file once the API has made it."""
        configured = self.portal_forwarding_key
        return signed_origin.shared_key(
            configured.get_secret_value() if configured is not None else None,
            self.data_dir / "portal_forwarding_key",
        )

    def key(self) -> bytes:
        if self.portal_key is not None:
            return self.portal_key.get_secret_value().encode()
        path = self.data_dir / "portal_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(path, "x", opener=lambda p, flags: os.open(p, flags, 0o600)) as file:
                    file.write(secrets.token_urlsafe(48))
            except FileExistsError:  # another process made it first: use theirs
                pass
        return path.read_text().strip().encode()


@lru_cache
def get_portal_settings() -> PortalSettings:
    return PortalSettings()
