"""The accounts' run-time settings (in `app_settings`, api/core/app_settings.py): whether registration is
open, and the plan new accounts get."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.app_settings import AppSetting

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
