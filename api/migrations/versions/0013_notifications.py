"""notifications: rules with templates per locale, broadcasts, the notifications sent; accounts' locale

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.notifications.templates import DEFAULT_RULES

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SINCE = datetime(2026, 11, 22, tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=5), nullable=False, server_default="en"))
    rules = op.create_table(
        "notification_rules",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("threshold", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("templates", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.bulk_insert(
        rules,
        [
            {
                "code": code,
                "enabled": True,
                "channels": rule["channels"],
                "threshold": rule["threshold"],
                "templates": rule["templates"],
                "updated_at": SINCE,
            }
            for code, rule in DEFAULT_RULES.items()
        ],
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_by_email", sa.String(length=320), nullable=True),
        sa.Column("segment", JSON, nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("templates", JSON, nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("broadcast_id", BIGINT, nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=True),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dedup_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["broadcast_id"], ["broadcasts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notifications_account_created", "notifications", ["account_id", "created_at"])
    op.create_index("ix_notifications_created", "notifications", ["created_at"])
    op.create_index("ix_notifications_broadcast", "notifications", ["broadcast_id"])
    op.create_index(
        "uq_notifications_dedup", "notifications", ["account_id", "channel", "dedup_key"], unique=True
    )
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.add_column(sa.Column("notification_id", BIGINT, nullable=True))
        batch_op.create_foreign_key(
            "fk_email_outbox_notification_id_notifications", "notifications", ["notification_id"], ["id"]
        )
        batch_op.create_index("ix_email_outbox_notification_id", ["notification_id"])


def downgrade() -> None:
    with op.batch_alter_table("email_outbox") as batch_op:
        batch_op.drop_index("ix_email_outbox_notification_id")
        batch_op.drop_constraint("fk_email_outbox_notification_id_notifications", type_="foreignkey")
        batch_op.drop_column("notification_id")
    op.drop_table("notifications")
    op.drop_table("broadcasts")
    op.drop_table("notification_rules")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("locale")
