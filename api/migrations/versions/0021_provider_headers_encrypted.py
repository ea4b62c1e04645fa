"""providers: extra headers encrypted at rest, like the key (providers.extra_headers_encrypted)

Each provider's plaintext `extra_headers` becomes one JSON object encrypted with the API's key (Fernet:
AIADMIN_ENCRYPTION_KEY, or the key derived from AIADMIN_SECRET_KEY), so run it with the API's own settings;
then the plaintext column goes. The downgrade decrypts them back.

No step copies the table (SQLite's batch mode would: with foreign keys on, dropping the old copy deletes
every model route of every provider through ON DELETE CASCADE): columns are added and dropped in place
(SQLite 3.35+ drops a column natively).

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-04
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from api.core.crypto import Encryptor
from api.core.settings import get_settings

revision: str = "0021"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PROVIDERS = sa.table(
    "providers",
    sa.column("id", sa.String()),
    sa.column("extra_headers", JSON),
    sa.column("extra_headers_encrypted", sa.Text()),
)


def _encryptor() -> Encryptor:
    # The settings `aiadmin migrate` (api.core.migrate) runs with, as env.py takes them.
    return Encryptor(context.config.attributes.get("settings") or get_settings())


def upgrade() -> None:
    encryptor = _encryptor()
    op.add_column("providers", sa.Column("extra_headers_encrypted", sa.Text(), nullable=True))
    bind = op.get_bind()
    for provider_id, headers in bind.execute(sa.select(PROVIDERS.c.id, PROVIDERS.c.extra_headers)).all():
        if headers:
            sealed = encryptor.encrypt(json.dumps(headers, sort_keys=True))
            bind.execute(
                PROVIDERS.update().where(PROVIDERS.c.id == provider_id).values(extra_headers_encrypted=sealed)
            )
    op.drop_column("providers", "extra_headers")


def downgrade() -> None:
    encryptor = _encryptor()
    # NOT NULL from the start, with a default: SQLite cannot add NOT NULL later without copying the table.
    op.add_column("providers", sa.Column("extra_headers", JSON, nullable=False, server_default="{}"))
    bind = op.get_bind()
    query = sa.select(PROVIDERS.c.id, PROVIDERS.c.extra_headers_encrypted)
    for provider_id, sealed in bind.execute(query).all():
        if sealed:
            headers = json.loads(encryptor.decrypt(sealed))
            bind.execute(
                PROVIDERS.update().where(PROVIDERS.c.id == provider_id).values(extra_headers=headers)
            )
    if bind.dialect.name == "postgresql":
        op.alter_column("providers", "extra_headers", server_default=None)
    op.drop_column("providers", "extra_headers_encrypted")
