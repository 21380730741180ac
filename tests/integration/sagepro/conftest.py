"""Fixtures for the Sage Pro tests: the emulator on loopback and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.base.emulator import EmulatorServer
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.emulator.app import EmulatorConfig, create_app
from tests.integration.sagepro.support import FAST, KEY


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(create_app(EmulatorConfig(api_key=KEY))) as server:
        yield server


@pytest.fixture
async def sage(emulator: EmulatorServer) -> AsyncIterator[SageProRestClient]:
    async with SageProRestClient(emulator.base_url, KEY, retry=FAST) as client:
        yield client
