"""The portal's tools: where the portal offers a role, which role a chat began with, and the seeded roles of
the editor and the prompt generator

`assistant_roles.tool` (and the same in `assistant_role_versions`, a role's content being versioned whole):
"editor" (an operation of the AI editor), "prompts" (a style of the prompt generator) or null (offered in
the chat only). `chats.role_id`: the role of the chat's first call (null: none), so that a user's history
says which tool made each entry. New roles: `shorten` (editor) and `prompt-creative` (prompts); the seeded
`paraphrase` and `fix-grammar` become editor operations and `prompt-writer` a generator style.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0027"
down_revision: str | None = "0025"  # TEMP until 0026 lands
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SINCE = datetime(2026, 12, 4, tzinfo=UTC)
NEW_ROLES = [
    {
        "id": "shorten",
        "name": "Shorten",
        "system_prompt": "Shorten the user's text to about half its length, keeping its meaning, facts, tone "
        "and language. Answer with the shortened text only.",
        "default_model": "mock-small",
        "default_params": {"temperature": 0.3},
        "enabled": True,
        "tool": "editor",
        "created_at": SINCE,
    },
    {
        "id": "prompt-creative",
        "name": "Creative prompt writer",
        "system_prompt": "Turn the user's idea into a vivid prompt for a language model: give it a persona, "
        "a mood, concrete details to include and the form of the answer. Answer with the prompt only, in "
        "the user's language.",
        "default_model": "mock-small",
        "default_params": {"temperature": 0.9},
        "enabled": True,
        "tool": "prompts",
        "created_at": SINCE,
    },
]
TOOLS = {"paraphrase": "editor", "fix-grammar": "editor", "prompt-writer": "prompts"}


# Plain ADD and DROP COLUMN (as 0025): batch mode would copy tables that foreign keys point at.
def upgrade() -> None:
    op.add_column("assistant_roles", sa.Column("tool", sa.String(16), nullable=True))
    op.add_column("assistant_role_versions", sa.Column("tool", sa.String(16), nullable=True))
    op.add_column("chats", sa.Column("role_id", sa.String(64), nullable=True))
    for role_id, tool in TOOLS.items():  # a fact about where the portal offers it, not a new version
        for statement in (
            "UPDATE assistant_roles SET tool = :tool WHERE id = :id",
            "UPDATE assistant_role_versions SET tool = :tool WHERE role_id = :id",
        ):
            op.execute(sa.text(statement).bindparams(tool=tool, id=role_id))
    roles = sa.table(
        "assistant_roles",
        *(
            sa.column(c)
            for c in ("id", "name", "system_prompt", "default_model", "enabled", "tool", "created_at")
        ),
        sa.column("default_params", JSON),
    )
    versions = sa.table(
        "assistant_role_versions",
        *(sa.column(c) for c in ("role_id", "version", "name", "system_prompt", "default_model", "enabled")),
        *(sa.column(c) for c in ("tool", "created_at")),
        sa.column("default_params", JSON),
    )
    existing = {row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM assistant_roles"))}
    new = [r for r in NEW_ROLES if r["id"] not in existing]  # staff may have made one of that id already
    if new:
        op.bulk_insert(roles, new)
        op.bulk_insert(
            versions,
            [{**{k: v for k, v in r.items() if k != "id"}, "role_id": r["id"], "version": 1} for r in new],
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM assistant_role_versions WHERE role_id IN ('shorten', 'prompt-creative')"))
    op.execute(sa.text("DELETE FROM assistant_roles WHERE id IN ('shorten', 'prompt-creative')"))
    op.drop_column("chats", "role_id")
    op.drop_column("assistant_role_versions", "tool")
    op.drop_column("assistant_roles", "tool")
