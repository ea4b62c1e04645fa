"""chats and messages; plan limits on tokens per day and month, chats and messages per chat

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chats_account_updated", "chats", ["account_id", "updated_at"])
    op.create_table(
        "messages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_chat_id", "messages", ["chat_id", "id"])
    with op.batch_alter_table("plans") as batch_op:
        batch_op.add_column(sa.Column("tokens_per_day", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tokens_per_month", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_chats", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_messages_per_chat", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE plans SET tokens_per_day = 20000, tokens_per_month = 200000, max_chats = 20, "
        "max_messages_per_chat = 100 WHERE code = 'free'"
    )
    op.execute("UPDATE plans SET tokens_per_day = 2000000, tokens_per_month = 20000000 WHERE code = 'pro'")


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch_op:
        batch_op.drop_column("max_messages_per_chat")
        batch_op.drop_column("max_chats")
        batch_op.drop_column("tokens_per_month")
        batch_op.drop_column("tokens_per_day")
    op.drop_index("ix_messages_chat_id", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_chats_account_updated", table_name="chats")
    op.drop_table("chats")
