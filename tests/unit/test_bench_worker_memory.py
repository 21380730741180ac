"""``worker_memory``'s feeding plan: the first keys go in small chunks with no payment deleted,
so a held sink's queue stops its payments partitions before a big chunk can overfill it (an
overfilled queue stops Faust's one delivery loop, the normalizer with it)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bench import worker_memory
from bench.worker_rig import Run


class FakeRun:
    """Takes every preloaded record through the normalizer at once."""

    name = "bfake"

    def __init__(self, done_before: int = 0) -> None:
        self.done_before = done_before
        self.chunks: list[int] = []

    async def preload(self, values: list[bytes]) -> None:
        self.chunks.append(len(values))

    async def done(self, flow: str) -> float:
        return float(self.done_before + sum(self.chunks))


@pytest.fixture
def trims(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """(keys fed, payments deleted too) per trim; a queue of 64, so 128 warm-up keys by 4."""
    monkeypatch.setenv("PAYSTREAM_STREAM_BUFFER_MAXSIZE", "64")
    monkeypatch.setattr(worker_memory, "CHUNK", 100)
    monkeypatch.setattr(worker_memory, "raw_records", lambda n, first_index: [b""] * n)
    calls: list[tuple[int, bool]] = []

    async def trim(run: Any, trim_payments: bool = True) -> int:
        calls.append((sum(run.chunks), trim_payments))
        return 0

    monkeypatch.setattr(worker_memory, "trim", trim)
    return calls


async def test_small_chunks_and_no_trim_until_twice_the_queue_is_fed(
    trims: list[tuple[int, bool]],
) -> None:
    run = FakeRun()
    await worker_memory.feed(cast(Run, run), 0, 330, 0)
    assert worker_memory.warm_up(cast(Run, run)) == (128, 4)
    assert run.chunks == [4] * 32 + [100, 100, 2]
    assert trims == [(228, True), (328, True), (330, True)]


async def test_a_later_checkpoint_feeds_big_chunks_at_once(
    trims: list[tuple[int, bool]],
) -> None:
    run = FakeRun(130)
    await worker_memory.feed(cast(Run, run), 0, 250, 130)
    assert run.chunks == [100, 100, 50]
    assert [keys for keys, _ in trims] == [100, 200, 250]


async def test_a_checkpoint_inside_the_warm_up_finishes_it_from_there(
    trims: list[tuple[int, bool]],
) -> None:
    run = FakeRun(100)
    await worker_memory.feed(cast(Run, run), 0, 30, 100)
    assert run.chunks == [4] * 7 + [2]
    assert trims == [(30, True)]  # the last 2 keys are past the warm-up
