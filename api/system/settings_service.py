"""Settings staff change at run time, kept as JSON in `app_settings` (`{"value": …}`): whether
registration is open, and the plan new accounts get. The credit rate lives there too (api/billing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.models import AppSetting

DEFAULTS: dict[str, Any] = {"registration_open": True, "default_plan": "free"}


async def get(session: AsyncSession, key: str) -> Any:
    row = await session.get(AppSetting, key)
    return row.value["value"] if row is not None else DEFAULTS[key]


async def put(session: AsyncSession, key: str, value: Any, at: datetime) -> None:
    """Set a setting (the caller commits)."""
    row = await session.get(AppSetting, key)
    if row is None:
        session.add(AppSetting(key=key, value={"value": value}, updated_at=at))
    else:
        row.value = {"value": value}
        row.updated_at = at


async def registration_open(session: AsyncSession) -> bool:
    return bool(await get(session, "registration_open"))


async def default_plan(session: AsyncSession) -> str:
    return str(await get(session, "default_plan"))
