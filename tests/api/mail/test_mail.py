"""Email leaves through the outbox: a real SMTP server on loopback receives the confirmation link; the
outbox keeps no live link once a mail has gone, and the console sender prints none in production."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from api.mail.service import MAX_ATTEMPTS, deliver_all
from api.main import create_app
from tests.support.api import PASSWORD, confirm, free_port, link_token, mails, register


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


def _links_in_the_outbox(settings) -> list[str]:
    """Every token an attacker who can read the email outbox (a leaked backup, a read-only SQL hole) finds."""
    return [token for mail in mails(settings) for token in re.findall(r"token=([A-Za-z0-9_-]+)", mail.body)]


def test_the_outbox_keeps_no_live_link_once_the_mail_is_sent(client, settings):
    """Confirmation and reset links read from the outbox after delivery get the attacker nowhere; the mailed
    ones still work."""
    register(client, "ada@example.com")
    confirm(client, settings, "ada@example.com")
    client.post("/api/v1/auth/forgot-password", json={"email": "ada@example.com"})
    sent = mails(settings, "ada@example.com")
    assert {m.kind for m in sent} == {"confirm_email", "reset_password", "notification"}
    assert all(m.sent_at is not None and m.body == "" for m in sent)
    for token in _links_in_the_outbox(settings):
        stolen = {"token": token, "new_password": "the attacker's choice"}
        assert client.post("/api/v1/auth/reset-password", json=stolen).status_code == 400
    mailed = link_token(settings, "ada@example.com", "reset_password")
    reset = {"token": mailed, "new_password": "a new one!!"}
    assert client.post("/api/v1/auth/reset-password", json=reset).status_code == 204


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mail_given_up_after_its_last_attempt_keeps_no_live_link(settings):
    down = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": free_port(), "smtp_starttls": False}
    )
    with TestClient(create_app(down)) as client:
        register(client, "ada@example.com")
        state = client.app.state
        for _ in range(MAX_ATTEMPTS):  # the mail job's runs, on the app's event loop
            client.portal.call(deliver_all, state.db.sessionmaker, state.mailer)
    (mail,) = mails(settings, "ada@example.com", "confirm_email")
    assert mail.sent_at is None and mail.attempts == MAX_ATTEMPTS and mail.last_error
    assert mail.body == "" and _links_in_the_outbox(settings) == []


@pytest.mark.parametrize("environment", ["production", "development"])
def test_the_console_sender_prints_links_only_outside_production(settings, environment, caplog):
    configured = settings.model_copy(update={"environment": environment})
    with caplog.at_level(logging.WARNING, logger="aiadmin.mail"):
        with TestClient(create_app(configured)) as client:
            register(client, "ada@example.com")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "aiadmin.mail")
    assert "email to ada@example.com: Confirm your email" in logged
    assert ("confirm-email?token=" in logged) is (environment != "production")
