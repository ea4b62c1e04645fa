"""Migration 0022 on a database made by an earlier version: the bodies of mails already sent (live links)
are wiped, and secrets encrypted under the key derived from the old public development key are
re-encrypted under the install's own key, so they stay readable and stop being readable by anyone."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import insert, select, update

from api.accounts.models import Account
from api.catalogue.models import Provider
from api.core.crypto import Encryptor, key_derived_from
from api.core.db import make_sync_engine
from api.core.migrate import alembic_config, downgrade, upgrade
from api.core.settings import DEV_SECRET_KEY
from api.core.types import utcnow
from api.mail.models import EmailMessage
from tests.support.api import create_staff_account, db_execute, http_provider_row

pytestmark = pytest.mark.both_databases  # ids and updates through each database's driver

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
LINK = "Confirm: http://127.0.0.1:8000/api/v1/auth/confirm-email?token=live-token-of-an-earlier-version"


def _mail(to: str, *, sent: bool, attempts: int):
    return insert(EmailMessage).values(
        to_address=to,
        subject="Confirm your email",
        body=LINK,
        kind="confirm_email",
        created_at=utcnow(),
        sent_at=utcnow() if sent else None,
        attempts=attempts,
    )


def test_0022_wipes_sent_links_and_re_encrypts_what_the_public_key_encrypted(settings):
    public = Fernet(key_derived_from(DEV_SECRET_KEY))
    current = Encryptor(settings)
    create_staff_account(settings, "admin@example.com", "admin")
    db_execute(
        settings,
        update(Account).values(totp_secret_encrypted=public.encrypt(TOTP_SECRET.encode()).decode()),
        http_provider_row(settings, "old", "http://127.0.0.1:1/v1", priority=1),
        update(Provider)
        .where(Provider.id == "old")
        .values(
            api_key_encrypted=public.encrypt(b"sk-old-provider-key").decode(),
            extra_headers_encrypted=public.encrypt(b'{"x-team": "a"}').decode(),
        ),
        http_provider_row(settings, "new", "http://127.0.0.1:1/v1", priority=2, key="sk-new-provider-key"),
        _mail("sent@example.com", sent=True, attempts=1),
        _mail("given-up@example.com", sent=False, attempts=5),
        _mail("pending@example.com", sent=False, attempts=1),
    )
    engine = make_sync_engine(settings)
    with engine.connect() as conn:
        untouched = conn.scalar(select(Provider.api_key_encrypted).where(Provider.id == "new"))

    before = ScriptDirectory.from_config(alembic_config(settings)).get_revision("0022").down_revision
    downgrade(settings, before)
    upgrade(settings, "head")

    with engine.connect() as conn:
        bodies = dict(conn.execute(select(EmailMessage.to_address, EmailMessage.body)).all())
        totp = conn.scalar(select(Account.totp_secret_encrypted))
        keys = dict(conn.execute(select(Provider.id, Provider.api_key_encrypted)).all())
        headers = conn.scalar(select(Provider.extra_headers_encrypted).where(Provider.id == "old"))
    engine.dispose()
    assert bodies == {"sent@example.com": "", "given-up@example.com": "", "pending@example.com": LINK}
    assert current.decrypt(totp) == TOTP_SECRET and current.decrypt(keys["old"]) == "sk-old-provider-key"
    assert current.decrypt(headers) == '{"x-team": "a"}'
    assert keys["new"] == untouched  # already under the install's key: left as it was
    for ciphertext in (totp, keys["old"], headers):  # the public key opens none of them any more
        with pytest.raises(InvalidToken):
            public.decrypt(ciphertext.encode())
