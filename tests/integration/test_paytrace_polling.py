"""Polling a busy day downloads each transaction about once: the real poller class against the
PayTrace emulator over HTTP, on simulated clocks, the emulator counting records it served.

2,000 transactions seeded over the night and morning, then eight hours of traffic (8,000 more
sales) and voids, the simulated clock moving a minute a step: the adaptive schedule against
reading on every 5 s tick (the old poller), in the same run. The first read (the catch-up of
what happened before the poller started) is not counted. Kafka is not involved (what the
poller publishes is kept in memory): what is measured is what it asks PayTrace for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bench.poller_harness import (
    Harness,
    SimClock,
    day_start,
    published_states,
    start_harness,
    stop_harness,
)
from stream.settings import WorkerSettings

pytestmark = pytest.mark.integration
SEEDED = 2_000
STEP = 60.0
STEPS = 480
PER_STEP = 17
OLD_TICKS = 6


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    running = await start_harness()
    try:
        yield running
    finally:
        await stop_harness(running)


async def traffic(
    harness: Harness, clock: SimClock, per_step: int, tag: str, step: float = STEP
) -> list[int]:
    start = clock.now
    clock.advance(step)
    first = await harness.seed(per_step, start, clock.now, tag)
    return [first + i for i in range(per_step)]


async def test_a_day_of_changes_is_downloaded_about_once_and_nothing_is_missed(
    harness: Harness,
) -> None:
    day = day_start(-1)
    clock = SimClock(now=day + timedelta(hours=8))
    morning = await harness.seed(SEEDED, day, clock.now, "AM")
    worker = WorkerSettings()  # the defaults: 5 s base, ratio 1.5, 6 h ceiling
    poller, published = harness.poller(clock, worker)
    await poller.tick()  # the first read takes the whole morning
    assert await harness.served() == SEEDED

    # The rest of the day: 17 sales a minute, and a void of a morning sale every 6 minutes.
    changes, voided = 0, 0
    for tick in range(STEPS):
        changes += len(await traffic(harness, clock, PER_STEP, f"PM{tick}"))
        if tick % 6 == 0:
            await harness.client.void(morning + voided)
            voided += 1
            changes += 1
        await poller.tick()
    poller.schedule.hurry()
    await poller.tick()  # the safety net's next read brings everything up to date
    new_downloads = await harness.served() - SEEDED

    # Every transaction's current state was published.
    current = await harness.current_states(day, clock.now)
    assert len(current) == SEEDED + changes - voided
    assert published_states(published) == current

    # The old poller, same emulator, same traffic pace: it reads the whole window each tick.
    old, _ = harness.poller(clock, worker)
    await old.tick()
    before = await harness.served()
    old_changes = 0
    for tick in range(OLD_TICKS):  # the same pace, a tick every 5 s
        old_changes += len(await traffic(harness, clock, 2, f"OLD{tick}", step=5.0))
        old.schedule.hurry()
        await old.tick()
    old_ratio = (await harness.served() - before) / old_changes
    new_ratio = new_downloads / changes
    print(f"records downloaded per change: adaptive {new_ratio:.2f}, every tick {old_ratio:.1f}")
    assert new_ratio <= 3.0
    assert old_ratio > 100 * new_ratio
