"""model_aliases, and experiments on an alias: experiments.role_id nullable, experiments.alias, exactly one
of the two, one running experiment per alias (docs/decisions/0062)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-04
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING = sa.text("status = 'running'")


def _running_index(name: str, column: str) -> None:
    op.create_index(
        f"uq_experiments_running_{name}", "experiments", [column], unique=True,
        postgresql_where=RUNNING, sqlite_where=RUNNING,
    )  # fmt: skip


@contextmanager
def _variants_kept() -> Iterator[None]:
    """On SQLite (foreign keys on, which a migration's transaction cannot turn off), copying `experiments`
    drops the old table, and the drop cascades to `experiment_variants`: their rows are put back after."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    variants = sa.table(
        "experiment_variants",
        *(sa.column(c) for c in ("experiment_id", "key", "model_id", "role_version", "weight")),
    )
    rows = [dict(r._mapping) for r in bind.execute(sa.select(variants))] if sqlite else []
    yield
    if rows:
        bind.execute(sa.delete(variants))
        bind.execute(sa.insert(variants), rows)


def upgrade() -> None:
    op.create_table(
        "model_aliases",
        sa.Column("alias", sa.String(length=128), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["llm_models.id"]),
        sa.PrimaryKeyConstraint("alias"),
    )
    # SQLite alters a table by copying it: the partial index is dropped first and made again after, so
    # that its WHERE survives the copy.
    op.drop_index("uq_experiments_running_role", table_name="experiments")
    with _variants_kept(), op.batch_alter_table("experiments") as batch_op:
        batch_op.alter_column("role_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("alias", sa.String(length=128), nullable=True))
        batch_op.create_check_constraint(
            "ck_experiments_role_or_alias", "(role_id IS NULL) <> (alias IS NULL)"
        )
    _running_index("role", "role_id")
    _running_index("alias", "alias")


def downgrade() -> None:
    op.execute("DELETE FROM experiments WHERE alias IS NOT NULL")  # their variants go with them (CASCADE)
    op.drop_index("uq_experiments_running_alias", table_name="experiments")
    op.drop_index("uq_experiments_running_role", table_name="experiments")
    with _variants_kept(), op.batch_alter_table("experiments") as batch_op:
        batch_op.drop_constraint("ck_experiments_role_or_alias", type_="check")
        batch_op.drop_column("alias")
        batch_op.alter_column("role_id", existing_type=sa.String(length=64), nullable=False)
    _running_index("role", "role_id")
    op.drop_table("model_aliases")
