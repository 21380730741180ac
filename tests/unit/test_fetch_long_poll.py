"""An empty fetch holds its node, longer with each empty answer in a row up to the idle wait;
a fetch with records never waits and starts the run again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher

from stream import fetch_long_poll

FIRST = fetch_long_poll.FIRST_HOLD_SECONDS
NODE = 1


async def _empty(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
    return False


async def _with_records(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
    return True


class _Fetcher:
    """Stands in for aiokafka's Fetcher: the wrapper keeps its runs of empty answers on it."""


async def _answers(script: str, monkeypatch: pytest.MonkeyPatch, idle_wait: float) -> list[float]:
    """The hold after each answer of ``script`` ("e" empty, "r" records; node 1 unless "2")."""
    holds: list[float] = []

    async def sleep(seconds: float) -> None:
        holds.append(seconds)

    async def fetch(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
        return answer == "r"

    held = fetch_long_poll._hold_empty_fetches(fetch, idle_wait=idle_wait)
    fetcher = _Fetcher()
    monkeypatch.setattr(fetch_long_poll.asyncio, "sleep", sleep)
    for answer in script:
        before = len(holds)
        await held(fetcher, None, 2 if answer == "2" else NODE, None)
        if len(holds) == before:
            holds.append(0.0)
    return holds


@pytest.mark.asyncio
async def test_an_empty_fetch_is_held_for_the_idle_wait() -> None:
    held = fetch_long_poll._hold_empty_fetches(_empty, idle_wait=0.2)
    fetcher = _Fetcher()
    loop = asyncio.get_running_loop()
    for _ in range(8):  # 5, 10, 20, 40, 80, 160 ms, then the idle wait
        started = loop.time()
        assert await held(fetcher, None, NODE, None) is False
    assert loop.time() - started >= 0.2


@pytest.mark.asyncio
async def test_the_hold_doubles_per_empty_answer_up_to_the_idle_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holds = await _answers("eeeeeee", monkeypatch, idle_wait=0.1)
    expected = [FIRST, 2 * FIRST, 4 * FIRST, 8 * FIRST, 16 * FIRST, 0.1, 0.1]
    assert holds == pytest.approx(expected, abs=0.002)  # less the fetch's own (tiny) time


@pytest.mark.asyncio
async def test_records_start_the_run_again_and_each_node_has_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # node 1: empty x5, records, empty; node 2's first empty is its own first
    holds = await _answers("eeeeere2", monkeypatch, idle_wait=0.1)
    assert holds[5] == 0.0  # records: never held
    assert holds[6] == pytest.approx(FIRST, abs=0.002)
    assert holds[7] == pytest.approx(FIRST, abs=0.002)


@pytest.mark.asyncio
async def test_a_fetch_that_brought_records_returns_at_once() -> None:
    # An hour of idle wait: only a fetch that is not held can finish within the ceiling.
    held = fetch_long_poll._hold_empty_fetches(_with_records, idle_wait=3600)
    assert await asyncio.wait_for(held(_Fetcher(), None, NODE, None), timeout=30) is True


@pytest.mark.asyncio
async def test_a_held_fetch_cancelled_returns_false_like_aiokafkas_own() -> None:
    held = fetch_long_poll._hold_empty_fetches(_empty, idle_wait=3600)
    fetcher = _Fetcher()
    setattr(fetcher, fetch_long_poll._STREAKS, {NODE: 40})  # long idle: the hold is the wait
    task = asyncio.create_task(held(fetcher, None, NODE, None))
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
