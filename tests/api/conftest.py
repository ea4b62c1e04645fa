from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from api.providers.mock_server import create_mock_app
from tests.support.api import FakeDns, LiveServer, free_port


@pytest.fixture
def upstream():
    """The mock provider as a real HTTP server on loopback (its app's state records the calls)."""
    app = create_mock_app()
    with LiveServer(app) as server:
        server.app = app
        yield server


@pytest.fixture
def dns(monkeypatch) -> FakeDns:
    """Host names resolved as the test says (`dns.names[name] = address`), changed at will."""
    return FakeDns(monkeypatch)


class SmtpInbox:
    """What a real SMTP server on loopback received (aiosmtpd envelopes)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free loopback port: (its controller, its inbox)."""
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()
