"""Settings staff change at run time, one JSON document per key in `app_settings` (`{"value": …}` for the
accounts' settings, the credit rate, the reservations job's watermark). The owners read and write their
keys through the domain that owns them (api/accounts/settings.py, api/billing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import JSONDoc, UTCDateTime


class AppSetting(Base):
    """Settings staff change at run time (the credit rate, …), as JSON values."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
