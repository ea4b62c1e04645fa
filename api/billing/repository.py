"""All SQL of credits: every change of a balance is one conditional UPDATE plus one ledger row, and a
reservation ends once. Repositories flush, never commit: the caller's service owns the transaction.

`UPDATE accounts SET balance = balance + :amount WHERE id = :id [AND balance >= -:amount]` is atomic on
PostgreSQL (the row is locked and the condition re-checked) and on SQLite (under the write lock), so
concurrent charges can never take a balance below zero. `move` and `claim_reservation` run on every paid
completion: plain Core statements, no ORM object, one round trip each (two for a move that succeeds).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.accounts.models import Account
from api.billing.models import LedgerEntry, ReservationSettlement
from api.core.app_settings import AppSetting
from api.core.db import insert_for
from api.events.models import UsageEvent


async def credit_rate_setting(session: AsyncSession) -> AppSetting:
    """The `credit_rate` application setting (seeded by the migrations, always present)."""
    return await session.get(AppSetting, "credit_rate")


async def move(
    session: AsyncSession,
    account_id: uuid.UUID,
    amount: Decimal,
    *,
    kind: str,
    at: datetime,
    reference: str | None = None,
    details: dict[str, Any] | None = None,
) -> Decimal | None:
    """Add `amount` (negative: take) and append its ledger row; None, and nothing done, if the balance
    would go below zero. The caller commits."""
    statement = update(Account).where(Account.id == account_id)
    if amount < 0:
        statement = statement.where(Account.balance >= -amount)
    statement = statement.values(balance=Account.balance + amount).returning(Account.balance)
    balance = (
        await session.execute(statement.execution_options(synchronize_session=False))
    ).scalar_one_or_none()
    if balance is None:
        return None
    await session.execute(  # a plain INSERT: rows are never read back or changed in the session
        insert(LedgerEntry.__table__).values(
            account_id=account_id,
            kind=kind,
            amount=amount,
            balance_after=balance,
            reference=reference,
            created_at=at,
            details=details or {},
        )
    )
    return balance


async def claim_reservation(
    session: AsyncSession, reference: str, account_id: uuid.UUID, outcome: str, at: datetime
) -> bool:
    """End the reservation `reference` as `outcome` (settled, refunded, lost): whether this caller did, or
    it was already ended (then change nothing). The row stays locked until the caller's transaction ends."""
    claimed = await session.execute(
        insert_for(session)(ReservationSettlement)
        .values(reference=reference, account_id=account_id, outcome=outcome, created_at=at)
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(ReservationSettlement.reference)
    )
    return claimed.scalar_one_or_none() is not None


async def balance_of(session: AsyncSession, account_id: uuid.UUID) -> Decimal:
    return await session.scalar(select(Account.balance).where(Account.id == account_id))


async def recent_entries(session: AsyncSession, account_id: uuid.UUID, limit: int = 50) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id.desc())
    return list((await session.scalars(query.limit(limit))).all())


# ---------------------------------------------------------------- lost reservations (api/billing/recovery.py)


async def locked_setting(
    session: AsyncSession, key: str, initial: dict[str, Any], at: datetime
) -> AppSetting:
    """The application setting `key` (made with `initial` on first use), locked for this transaction."""
    await session.execute(
        insert_for(session)(AppSetting)
        .values(key=key, value=initial, updated_at=at)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return await session.scalar(select(AppSetting).where(AppSetting.key == key).with_for_update())


async def unsettled_charges(session: AsyncSession, since: datetime, until: datetime) -> list[LedgerEntry]:
    """The charges made in [since, until) that no other ledger row carries the reference of, in order."""
    other = aliased(LedgerEntry)
    settled = select(other.id).where(other.reference == LedgerEntry.reference, other.id != LedgerEntry.id)
    return list(
        await session.scalars(
            select(LedgerEntry)
            .where(
                LedgerEntry.kind == "charge",
                LedgerEntry.created_at >= since,
                LedgerEntry.created_at < until,
                ~settled.exists(),
            )
            .order_by(LedgerEntry.id)
        )
    )


async def succeeded_calls(session: AsyncSession, references: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these calls (by their event id) have a success event."""
    if not references:
        return set()
    return set(await session.scalars(select(UsageEvent.event_id).where(UsageEvent.event_id.in_(references))))


async def account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)
