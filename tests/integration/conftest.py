"""Fixtures for end-to-end tests on the real broker and emulator processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stream import fetch_long_poll
from tests.integration.harness import Pipeline

# The tests' own consumers would spin a core on the embedded broker's instant empty fetches.
fetch_long_poll.apply()


@pytest.fixture
async def pipeline(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """Emulators started, no worker yet (tests start and kill workers themselves)."""
    running = Pipeline(kafka_bootstrap, tmp_path)
    try:
        await running.start_emulators()
        yield running
    finally:
        await running.stop()
