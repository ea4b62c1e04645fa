"""completion_feedback: the latest score of each completion by its caller (docs/decisions/0054)

One row per completion (its reference, the primary key: a burst of the same score is one upsert on it), a
thumb or a number 1-5 and a comment, with the call's model, role, role version, provider and plan. The
`feedback.given` events carry every change for analytics; this table answers the next score and erases a
deleted account's comments.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "completion_feedback",
        sa.Column("completion_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.String(length=8), nullable=True),
        sa.Column("value", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("role_id", sa.String(length=64), nullable=True),
        sa.Column("role_version", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("plan", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(rating IN ('up', 'down') AND value IS NULL) OR (rating IS NULL AND value BETWEEN 1 AND 5)",
            name="ck_completion_feedback_score",
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("completion_id"),
    )
    op.create_index("ix_completion_feedback_account", "completion_feedback", ["account_id"])


def downgrade() -> None:
    op.drop_table("completion_feedback")
