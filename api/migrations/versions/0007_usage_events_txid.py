"""usage_events.txid (PostgreSQL): the writing transaction's id, for an extract that misses no late commit

Ids come from a sequence when a row is inserted, but rows become visible when their transaction commits,
so a lower id can appear after a higher one was read. The extract instead reads by transaction id up to
the snapshot's xmin, below which every transaction has ended (see pipelines/extract.py). SQLite has one
writer at a time, so its ids are already in commit order and it needs no such column.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE usage_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.execute("CREATE INDEX ix_usage_events_txid ON usage_events (txid)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_usage_events_txid")
    op.execute("ALTER TABLE usage_events DROP COLUMN txid")
