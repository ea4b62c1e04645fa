from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.users.models import Account, Plan


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def get_account_by_email(session: AsyncSession, email: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.email == email))


async def get_plan(session: AsyncSession, code: str) -> Plan | None:
    return await session.get(Plan, code)


async def add_account(session: AsyncSession, account: Account) -> Account:
    session.add(account)
    await session.flush()
    return account
