"""The portal's needs: an account's display name and deletion time; a plan's public flag and monthly price

`accounts.display_name` and `accounts.deleted_at` (PATCH and DELETE /api/v1/me, docs/decisions/0047);
`plans.public` (listed by the public GET /api/v1/plans) and `plans.price_monthly` (what the plan costs a
month in the credit rate's currency; null: not priced).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("price_monthly", sa.Numeric(18, 2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("price_monthly")
        batch_op.drop_column("public")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("display_name")
