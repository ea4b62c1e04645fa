"""Email leaves through the outbox: a real SMTP server on loopback receives the confirmation link."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.support.api import PASSWORD, free_port, mails


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_confirmation_mail_reaches_a_real_smtp_server(settings, smtp_server):
    controller, inbox = smtp_server
    smtp = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": controller.port, "smtp_starttls": False}
    )
    with TestClient(create_app(smtp)) as client:
        client.post("/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD})
    (envelope,) = [m for m in inbox.messages if b"Subject: Confirm your email" in m.content]
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert "confirm-email?token=" in envelope.content.decode()
    (outbox_row,) = mails(settings, "ada@example.com", kind="confirm_email")
    assert outbox_row.sent_at is not None and outbox_row.attempts == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mail_server_that_is_down_leaves_the_mail_pending_for_a_retry(settings):
    down = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_starttls": False}
    )
    with TestClient(create_app(down)) as client:
        response = client.post(
            "/api/v1/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
    assert response.status_code == 202  # the sign-up itself is not lost
    (row,) = mails(settings, "ada@example.com", kind="confirm_email")
    assert row.sent_at is None and row.attempts == 1 and row.last_error
