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


# Plain ADD and DROP COLUMN (SQLite has both since 3.35), not batch mode: batch mode copies a table, and
# accounts and plans are what many foreign keys point at, so dropping the copy's original fails.
def upgrade() -> None:
    op.add_column("accounts", sa.Column("display_name", sa.String(100), nullable=True))
    op.add_column("accounts", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("plans", sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("plans", sa.Column("price_monthly", sa.Numeric(18, 2), nullable=True))


def downgrade() -> None:
    op.drop_column("plans", "price_monthly")
    op.drop_column("plans", "public")
    op.drop_column("accounts", "deleted_at")
    op.drop_column("accounts", "display_name")
