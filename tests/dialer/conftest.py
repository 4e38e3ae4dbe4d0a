"""Fixtures of the console tests: the application in Greece's time zone and numbering plan."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import AppMaker
from tests.dialer.helpers import World, world


@pytest.fixture
async def w(make_client: AppMaker) -> World:
    """A running app with teams, agents, supervisors and a few persons."""
    client: TestClient[Any, Any] = await make_client(
        default_region="GR", default_timezone="Europe/Athens"
    )
    return await world(client)
