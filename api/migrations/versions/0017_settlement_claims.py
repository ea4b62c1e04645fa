"""reservation_settlements (one ending per reservation), and the gateway functions that reserve tokens

- `reservation_settlements`: a paid call's reservation is ended once, by whoever writes its row first:
  the call's settlement, its refund, or the recovery job (docs/decisions/0030).
- `gateway_take` reserves the most tokens a call can use in the token quotas (a new parameter, so the old
  function is dropped first); `gateway_settle` claims the reservation and turns the tokens reserved into
  the tokens used (docs/decisions/0029).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.gateway import sql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = {
    "gateway_take": "831cbddeaac53346d29c0117aa6599d410f0008e4355ee752d9a0e79ceaac200",
    "gateway_settle": "d7ff28033a4003f562100895a6ad0a37c59cab55eb5618b4eb1496d6126fbeef",
}
# The signature of migration 0016's gateway_take (this one adds p_token_reserve).
TAKE_0016 = (
    "gateway_take(uuid, text[], date[], integer[], text, date, integer, numeric, text, "
    "timestamp with time zone, jsonb)"
)
TAKE_0017 = (
    "gateway_take(uuid, text[], date[], integer[], integer, text, date, integer, numeric, text, "
    "timestamp with time zone, jsonb)"
)
PREVIOUS = {
    "gateway_take": "630b77dfa46df6b40525cc3eb94560b16e06ed8d00af0e973d405b0255db132f",
    "gateway_settle": "d93ebb74504aba03f1073cd591f153c983247b51b6bb11886f123a56b8c30244",
}


def upgrade() -> None:
    op.create_table(
        "reservation_settlements",
        sa.Column("reference", sa.String(100), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {TAKE_0016}")
    for name, pinned in FUNCTIONS.items():
        op.execute(sql.as_of(name, revision, pinned))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {TAKE_0017}")
        for name, pinned in PREVIOUS.items():
            op.execute(sql.as_of(name, down_revision, pinned))
    op.drop_table("reservation_settlements")
