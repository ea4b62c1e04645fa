from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.core.db import Base
from api.core.types import BigIntPK, UTCDateTime

# What a sent (or abandoned) mail's body becomes.
PURGED_BODY = ""


class EmailMessage(Base):
    """The email outbox: written in the transaction that wants the mail sent, delivered after commit.

    A queue, not an archive: once a mail is sent (or given up), its body is wiped (`PURGED_BODY`), since
    a body may hold a live link (a confirmation, a password reset); the rest of the row stays as the
    record of the delivery.
    """

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # What the mail is for (confirm_email, reset_password, …), so tests and operators can find it.
    kind: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The notification this mail delivers (notifications' delivery log reads its state from here).
    notification_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("notifications.id"),
        nullable=True,
        index=True,
    )
