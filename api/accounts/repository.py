from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Account, Plan


async def get_account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def lock_accounts(session: AsyncSession, account_ids: Sequence[uuid.UUID]) -> list[Account]:
    """The accounts `account_ids`, read afresh and locked for the rest of the transaction (FOR UPDATE; on
    SQLite the transaction already holds the write lock), in id order: two transactions locking overlapping
    sets queue one behind the other instead of deadlocking, and each sees what the other committed."""
    query = (
        select(Account)
        .where(Account.id.in_(list(account_ids)))
        .order_by(Account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(query))


async def get_account_by_email(session: AsyncSession, email: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.email == email))


async def get_plan(session: AsyncSession, code: str) -> Plan | None:
    return await session.get(Plan, code)


async def add_account(session: AsyncSession, account: Account) -> Account:
    session.add(account)
    await session.flush()
    return account


async def claim_totp_step(session: AsyncSession, account_id: uuid.UUID, step: int) -> bool:
    """Record a TOTP time step as used; False when it (or a later one) was used already: a replay."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


async def plans_by_code(session: AsyncSession) -> Sequence[Plan]:
    return (await session.scalars(select(Plan).order_by(Plan.code))).all()


def add_plan(session: AsyncSession, plan: Plan) -> None:
    session.add(plan)


async def delete_plan(session: AsyncSession, plan: Plan) -> None:
    await session.delete(plan)


async def accounts_on_plan(session: AsyncSession, code: str) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Account).where(Account.plan_code == code))
    )
