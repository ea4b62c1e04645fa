"""Email senders: the console (the log) by default, SMTP when AIADMIN_SMTP_HOST is set."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage as MimeMessage
from typing import Protocol

from api.core.settings import Settings

log = logging.getLogger("aiadmin.mail")


class Sender(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class ConsoleSender:
    """Writes each mail to the log: for development, where no mail server exists.

    In production the body is withheld: it may hold a live link (a confirmation or a password reset),
    and logs are read by more people, and kept longer, than a mailbox.
    """

    def __init__(self, settings: Settings) -> None:
        self.show_body = settings.environment != "production"

    async def send(self, to: str, subject: str, body: str) -> None:
        if self.show_body:
            log.warning("email to %s: %s\n%s", to, subject, body)
        else:
            log.warning("email to %s: %s (body withheld in production: set AIADMIN_SMTP_HOST)", to, subject)


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _send_blocking(self, message: MimeMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value() if s.smtp_password else "")
            smtp.send_message(message)

    async def send(self, to: str, subject: str, body: str) -> None:
        message = MimeMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        await asyncio.to_thread(self._send_blocking, message)


def make_sender(settings: Settings) -> Sender:
    return SmtpSender(settings) if settings.smtp_host else ConsoleSender(settings)
