"""credit_ledger: indexes on reference and (kind, created_at), for refunding lost reservations

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_credit_ledger_reference", "credit_ledger", ["reference"])
    op.create_index("ix_credit_ledger_kind_created_at", "credit_ledger", ["kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_credit_ledger_kind_created_at", table_name="credit_ledger")
    op.drop_index("ix_credit_ledger_reference", table_name="credit_ledger")
