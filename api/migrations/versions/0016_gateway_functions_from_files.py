"""PostgreSQL: gateway_take and gateway_settle installed from their .sql files (api/gateway/sql/)

The same logic as migration 0015's (which stays as it was: the text it installed), now kept in one
`.sql` file per function, as PostgreSQL prints it back. From here on a function changes by editing its
file and adding a migration that installs it; `as_of` refuses a file changed without one (see
api/gateway/sql/__init__.py and docs/decisions/0027-one-bookkeeping-seam.md).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

from api.gateway import sql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The digest (api.gateway.sql.digest) of each function's text as this migration installs it.
FUNCTIONS = {
    "gateway_take": "630b77dfa46df6b40525cc3eb94560b16e06ed8d00af0e973d405b0255db132f",
    "gateway_settle": "d93ebb74504aba03f1073cd591f153c983247b51b6bb11886f123a56b8c30244",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, pinned in FUNCTIONS.items():
        op.execute(sql.as_of(name, revision, pinned))


def downgrade() -> None:
    """Back to migration 0015's text of the functions."""
    if op.get_bind().dialect.name != "postgresql":
        return
    path = Path(__file__).with_name("0015_gateway_functions.py")
    spec = importlib.util.spec_from_file_location("aiadmin_migration_0015", path)
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    for text in (previous.TAKE, previous.SETTLE):
        op.execute(text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
