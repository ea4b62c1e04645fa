"""assistant roles (personas with a system prompt, a default model and parameters)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    roles = op.create_table(
        "assistant_roles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("default_model", sa.String(length=128), nullable=True),
        sa.Column("default_params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["default_model"], ["llm_models.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        roles,
        [
            {
                "id": "paraphrase",
                "name": "Paraphrase",
                "system_prompt": "Rewrite the user's text in different words, keeping its meaning, tone and "
                "language. Answer with the rewritten text only.",
                "default_model": "mock-small",
                "default_params": {"temperature": 0.8},
                "enabled": True,
                "created_at": SINCE,
            },
            {
                "id": "fix-grammar",
                "name": "Fix grammar",
                "system_prompt": "Correct the grammar, spelling and punctuation of the user's text. Change "
                "nothing else. Answer with the corrected text only.",
                "default_model": "mock-small",
                "default_params": {"temperature": 0.0},
                "enabled": True,
                "created_at": SINCE,
            },
            {
                "id": "prompt-writer",
                "name": "Technical prompt writer",
                "system_prompt": "Turn the user's request into a precise prompt for a language model: state "
                "the role, the task, the constraints, the input and the expected output format.",
                "default_model": "mock-large",
                "default_params": {"temperature": 0.3},
                "enabled": True,
                "created_at": SINCE,
            },
        ],
    )


def downgrade() -> None:
    op.drop_table("assistant_roles")
