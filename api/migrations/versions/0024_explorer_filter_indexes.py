"""usage_events: partial indexes for the request explorer's model and status filters, in its keyset order

The explorer lists the completions' events (`llm.call_succeeded`, `llm.call_failed`) newest id first; a
filter on the model or the status then reads (column, id) of those events only, and stops at the page's
end instead of walking the primary key through every other model's calls (docs/decisions/0046).
On PostgreSQL the indexes are built CONCURRENTLY: the gateway keeps writing events meanwhile.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from contextlib import nullcontext

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As api/events/models.py says it (CALLS_ONLY), frozen here.
CALLS_ONLY = "type IN ('llm.call_failed', 'llm.call_succeeded')"
COLUMNS = ("model_id", "status")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.get_context().autocommit_block() if postgresql else nullcontext():
        for column in COLUMNS:
            op.create_index(
                f"ix_usage_events_calls_{column}", "usage_events", [column, "id"],
                postgresql_where=sa.text(CALLS_ONLY), sqlite_where=sa.text(CALLS_ONLY),
                postgresql_concurrently=postgresql, if_not_exists=True,
            )  # fmt: skip


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_usage_events_calls_{column}", table_name="usage_events")
