"""no usable secret at rest: bodies of sent mails wiped, secrets under the public development key re-encrypted

The email outbox kept every mail's body, live links included; from now on a body is wiped once the mail
is sent or given up (api/mail/service.py), and this wipes those of the mails already gone.

Development installs signed and encrypted with a built-in key that is now refused everywhere
(docs/decisions/0036-generated-secret-key.md). Secrets encrypted under the key derived from it (TOTP
secrets, provider keys and headers) are re-encrypted here under the key the install uses now, so they
stay readable. Hashes keyed with it (sessions, API keys, one-time links) cannot be redone: they stop
matching.

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from cryptography.fernet import Fernet, InvalidToken

from api.core.crypto import Encryptor, key_derived_from
from api.core.settings import DEV_SECRET_KEY, get_settings

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_ATTEMPTS = 5  # api.mail.service.MAX_ATTEMPTS when this was written: a mail given up
ENCRYPTED = (
    ("accounts", "totp_secret_encrypted"),
    ("providers", "api_key_encrypted"),
    ("providers", "extra_headers_encrypted"),
)


def upgrade() -> None:
    outbox = sa.table("email_outbox", sa.column("body"), sa.column("sent_at"), sa.column("attempts"))
    op.execute(
        outbox.update()
        .where(sa.or_(outbox.c.sent_at.is_not(None), outbox.c.attempts >= MAX_ATTEMPTS))
        .values(body="")
    )
    settings = context.config.attributes.get("settings") or get_settings()
    public, current = Fernet(key_derived_from(DEV_SECRET_KEY)), Encryptor(settings)
    connection = op.get_bind()
    for name, column in ENCRYPTED:
        table = sa.table(name, sa.column("id"), sa.column(column))
        rows = connection.execute(sa.select(table.c.id, table.c[column]).where(table.c[column].is_not(None)))
        for row_id, ciphertext in rows.all():
            try:
                plaintext = public.decrypt(ciphertext.encode()).decode()
            except InvalidToken:  # not under the public key: nothing to do
                continue
            connection.execute(
                table.update().where(table.c.id == row_id).values({column: current.encrypt(plaintext)})
            )


def downgrade() -> None:
    """Nothing to undo: a wiped body is gone, and a re-encrypted secret reads as well as before."""
