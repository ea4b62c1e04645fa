"""credits: balance, append-only ledger, app settings (the credit rate), idempotency records

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
CREDITS = sa.Numeric(precision=18, scale=6)
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("balance", CREDITS, nullable=False, server_default="0"))
    op.create_table(
        "credit_ledger",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", CREDITS, nullable=False),
        sa.Column("balance_after", CREDITS, nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_credit_ledger_account_id", "credit_ledger", ["account_id", "id"])
    settings = op.create_table(
        "app_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(
        settings,
        [
            {
                "key": "credit_rate",
                "value": {"currency": "USD", "price_per_credit": "0.01", "usd_per_credit": "0.01"},
                "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
            }
        ],
    )
    op.create_table(
        "idempotency_records",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "key", name="uq_idempotency_account_key"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_records")
    op.drop_table("app_settings")
    op.drop_index("ix_credit_ledger_account_id", table_name="credit_ledger")
    op.drop_table("credit_ledger")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("balance")
