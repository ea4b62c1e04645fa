"""experiments and experiment_variants: A/B tests on assistant roles (docs/decisions/0059)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.String(length=1), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped')", name="ck_experiments_status"
        ),
        sa.ForeignKeyConstraint(["role_id"], ["assistant_roles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_experiments_running_role", "experiments", ["role_id"], unique=True,
        postgresql_where=RUNNING, sqlite_where=RUNNING,
    )  # fmt: skip
    op.create_table(
        "experiment_variants",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=1), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("role_version", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.CheckConstraint("weight BETWEEN 1 AND 1000", name="ck_experiment_variants_weight"),
        sa.CheckConstraint(
            "model_id IS NOT NULL OR role_version IS NOT NULL", name="ck_experiment_variants_something"
        ),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("experiment_variants")
    op.drop_index("uq_experiments_running_role", table_name="experiments")
    op.drop_table("experiments")
