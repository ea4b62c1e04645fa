from __future__ import annotations

import pytest

from tests.portal.support import portal_world


@pytest.fixture
def world(settings, tmp_path):
    with portal_world(settings, tmp_path) as world:
        yield world
