"""Credits: an append-only ledger and the balance it adds up to."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, JSONDoc, UTCDateTime

CREDITS = Numeric(18, 6)


class LedgerEntry(Base):
    """One movement of credits; rows are never changed. `accounts.balance` is their running sum."""

    __tablename__ = "credit_ledger"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(CREDITS)  # positive adds to the balance, negative takes from it
    balance_after: Mapped[Decimal] = mapped_column(CREDITS)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the completion, the top-up
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    __table_args__ = (
        Index("ix_credit_ledger_account_id", "account_id", "id"),
        # The settlement of a reservation is found by its reference; reservations by their time
        # (api/billing/recovery.py).
        Index("ix_credit_ledger_reference", "reference"),
        Index("ix_credit_ledger_kind_created_at", "kind", "created_at"),
    )


class ReservationSettlement(Base):
    """The one ending of a paid call's reservation: settled (the call answered), refunded (it failed) or
    lost (the recovery job refunded it: api/billing/recovery.py). Whoever writes this row first ends the
    reservation; the others find it taken and change nothing, so no reservation is ever settled twice."""

    __tablename__ = "reservation_settlements"

    reference: Mapped[str] = mapped_column(String(100), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(16))  # settled | refunded | lost
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
