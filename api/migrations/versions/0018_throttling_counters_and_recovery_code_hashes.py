"""attempt_counters (throttling of password and second-factor checks); recovery codes as argon2id hashes

The counters replace the counting of failures in security_events (docs/decisions/0032). Recovery codes
were stored as HMAC-SHA256 under the secret key, a fast hash of ~50 bits; each stored value becomes the
argon2id hash of itself, which is what the API now stores for a new code (argon2id of the code's HMAC), so
codes already handed out keep working (docs/decisions/0033). Going down cannot undo a password hash: the
codes are deleted, and their accounts must make new ones.

Revision ID: 0018
Revises: 0022
Create Date: 2026-12-04
"""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from alembic import op

from api.auth.credentials import hash_password

revision: str = "0018"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
# PostgreSQL's name for the unique constraint of migration 0002 (SQLite's has none: its table is rebuilt).
UNIQUE = "recovery_codes_code_hash_key"


def _recovery_codes(code_hash: sa.String, *constraints) -> sa.Table:
    """The table as batch mode rebuilds it on SQLite (with these constraints, no others)."""
    return sa.Table(
        "recovery_codes",
        sa.MetaData(),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_hash", code_hash, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_recovery_codes_account_id", "account_id"),
        *constraints,
    )


def upgrade() -> None:
    op.create_table(
        "attempt_counters",
        sa.Column("key", sa.String(length=420), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.Column("blocked_until", TIMESTAMP, nullable=True),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_constraint(UNIQUE, "recovery_codes", type_="unique")
    with op.batch_alter_table("recovery_codes", copy_from=_recovery_codes(sa.String(length=64))) as batch_op:
        batch_op.alter_column(
            "code_hash",
            existing_type=sa.String(length=64),
            type_=sa.String(length=200),
            existing_nullable=False,
        )

    codes = sa.table("recovery_codes", sa.column("id", sa.Uuid()), sa.column("code_hash", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(codes.c.id, codes.c.code_hash)).all()
    # argon2 takes ~20 ms a hash and releases the GIL: every core at it.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashed = list(pool.map(hash_password, [row.code_hash for row in rows]))
    for row, new_hash in zip(rows, hashed, strict=True):
        bind.execute(sa.update(codes).where(codes.c.id == row.id).values(code_hash=new_hash))


def downgrade() -> None:
    op.execute("DELETE FROM recovery_codes")
    with op.batch_alter_table("recovery_codes", copy_from=_recovery_codes(sa.String(length=200))) as batch_op:
        batch_op.alter_column(
            "code_hash",
            existing_type=sa.String(length=200),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.create_unique_constraint(UNIQUE, ["code_hash"])
    op.drop_table("attempt_counters")
