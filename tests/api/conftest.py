from __future__ import annotations

import pytest

from api.gateway.providers.mock_server import create_mock_app
from tests.support import LiveServer


@pytest.fixture
def upstream():
    """The mock provider as a real HTTP server on loopback (its app's state records the calls)."""
    app = create_mock_app()
    with LiveServer(app) as server:
        server.app = app
        yield server
