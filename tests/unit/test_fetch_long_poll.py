"""An empty fetch holds its node for the idle wait; a fetch with records never waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher

from stream import fetch_long_poll


async def _empty(self: Any) -> bool:
    return False


async def _with_records(self: Any) -> bool:
    return True


@pytest.mark.asyncio
async def test_an_empty_fetch_is_held_for_the_idle_wait() -> None:
    held = fetch_long_poll._hold_empty_fetches(_empty, idle_wait=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await held(object()) is False
    assert loop.time() - started >= 0.2


@pytest.mark.asyncio
async def test_a_fetch_that_brought_records_returns_at_once() -> None:
    # An hour of idle wait: only a fetch that is not held can finish within the ceiling.
    held = fetch_long_poll._hold_empty_fetches(_with_records, idle_wait=3600)
    assert await asyncio.wait_for(held(object()), timeout=30) is True


@pytest.mark.asyncio
async def test_a_held_fetch_cancelled_returns_false_like_aiokafkas_own() -> None:
    held = fetch_long_poll._hold_empty_fetches(_empty, idle_wait=3600)
    task = asyncio.create_task(held(object()))
    await asyncio.sleep(0)
    task.cancel()
    assert await asyncio.wait_for(task, timeout=30) is False


def test_apply_wraps_aiokafkas_fetch_once() -> None:
    fetch_long_poll.apply()
    first = Fetcher._proc_fetch_request
    fetch_long_poll.apply()
    assert Fetcher._proc_fetch_request is not first  # re-wrapped from the original...
    original = getattr(Fetcher._proc_fetch_request, fetch_long_poll._APPLIED_MARK)
    assert getattr(original, fetch_long_poll._APPLIED_MARK, None) is None  # ...never twice
