"""Self-service plan purchase: when a bought plan ends, and a price for the seeded `pro` plan

`accounts.plan_expires_at` (POST /api/v1/me/plan sets it a month ahead; past it the account is back on the
default plan, docs/decisions/0050); `plans.price_monthly` of `pro` set to 10.00 (in the credit rate's
currency) where it has no price yet, so that a fresh install has a plan to sell.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A plain ADD and DROP COLUMN, not batch mode: see 0025.
def upgrade() -> None:
    op.add_column("accounts", sa.Column("plan_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE plans SET price_monthly = 10.00 WHERE code = 'pro' AND price_monthly IS NULL")


def downgrade() -> None:
    # The price goes only if it is still the one set here (staff may have changed it since).
    op.execute("UPDATE plans SET price_monthly = NULL WHERE code = 'pro' AND price_monthly = 10.00")
    op.drop_column("accounts", "plan_expires_at")
