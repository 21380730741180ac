"""``paytrace_polling``: records the PayTrace poller downloads per new or changed transaction,
over a simulated day, with the adaptive schedule against the old read-every-5-seconds.

The real poller class (bench/poller_harness.py) reads a PayTrace emulator over HTTP; the
emulator counts the transaction records its exports served (``GET /_emulator/served``). A
day of ``records`` transactions arrives evenly (seeded through ``POST /_emulator/seed`` as the
simulated clock moves, 30 s a step), one in 100 is voided ten minutes after its sale through
the real void endpoint, the day's batch settles just after midnight and the simulation runs
on into the next day's traffic until six hours after it. Changes counted: every sale, every
void and every settled transaction. At the end one more read checks that the poller
published the current state of every transaction (``missed`` must be 0).

The old strategy is the same class reading on every 5 s tick (as before the schedule). Reading
a 100,000-record window every 5 s for a whole day is not affordable here, so it is measured
over ``OLD_TICKS`` consecutive ticks in the evening of the same simulated day, after one read
that primes what it has published: its ratio there is what it pays at that hour.
"""

from __future__ import annotations

import time
from datetime import timedelta

from bench.poller_harness import (
    Harness,
    SimClock,
    day_start,
    published_states,
    start_harness,
    stop_harness,
)
from bench.result import BenchResult, Metric

NAME = "paytrace_polling"
DEFAULT_RECORDS = 100_000
STEP_SECONDS = 30.0
VOID_EVERY = 100
VOID_AFTER_STEPS = 20  # ten minutes
OLD_TICKS = 4
OLD_AT_HOUR = 20
SETTLE_AFTER_MIDNIGHT = timedelta(minutes=5)
RUN_INTO_NEXT_DAY = timedelta(hours=6, minutes=30)


async def _void(harness: Harness, ids: list[int]) -> int:
    for transaction_id in ids:
        await harness.client.void(transaction_id)
    return len(ids)


async def _old_strategy_sample(
    harness: Harness, clock: SimClock, per_second: float
) -> tuple[float, int, int]:
    """(records per new transaction, records served, transactions seeded) of the
    read-every-tick poller at this hour."""
    old, _ = harness.poller(clock)
    old.schedule.hurry()
    before_prime = await harness.served()
    await old.tick()  # primes what it has published; not counted in its ratio
    served_before = await harness.served()
    fresh = 0
    for _ in range(OLD_TICKS):
        start = clock.now
        clock.advance(5.0)
        count = max(1, round(per_second * 5.0))
        await harness.seed(count, start, clock.now, "OLD")
        fresh += count
        old.schedule.hurry()  # the old poller read at every tick
        await old.tick()
    served_after = await harness.served()
    return (served_after - served_before) / fresh, served_after - before_prime, fresh


async def run_paytrace_polling(records: int, repeats: int) -> BenchResult:
    del repeats  # one simulated day is the run; its parts are reported in the notes
    harness = await start_harness()
    started = time.perf_counter()
    try:
        first = day_start(-2)  # the simulated day and the next lie wholly in the past
        clock = SimClock(now=first)
        poller, published = harness.poller(clock)
        per_second = records / 86_400.0
        carry, seeded, voids, settled, reads, step, old_served = 0.0, 0, 0, 0, 0, 0, 0
        pending_voids: list[tuple[int, list[int]]] = []
        old_ratio: float | None = None
        settle_at = first + timedelta(days=1) + SETTLE_AFTER_MIDNIGHT
        end = first + timedelta(days=1) + RUN_INTO_NEXT_DAY
        while clock.now < end:
            start = clock.now
            clock.advance(STEP_SECONDS)
            step += 1
            carry += per_second * STEP_SECONDS
            count, carry = int(carry), carry - int(carry)
            if count:
                first_id = await harness.seed(count, start, clock.now, f"D{step}")
                ids = [first_id + i for i in range(count) if (seeded + i) % VOID_EVERY == 0]
                seeded += count
                if ids:
                    pending_voids.append((step + VOID_AFTER_STEPS, ids))
            while pending_voids and pending_voids[0][0] <= step:
                voids += await _void(harness, pending_voids.pop(0)[1])
            if not settled and clock.now >= settle_at:
                settled = await harness.settle()
            if old_ratio is None and clock.now >= first + timedelta(hours=OLD_AT_HOUR):
                old_ratio, served, fresh = await _old_strategy_sample(harness, clock, per_second)
                old_served += served
                seeded += fresh
            due = poller.schedule.due(clock.mono)
            await poller.tick()
            reads += int(due)
        new_served = await harness.served() - old_served
        changes = seeded + voids + settled
        pending_before_final = len(published)
        poller.schedule.hurry()
        await poller.tick()  # the safety net's next read: it must bring everything up to date
        pending = len(published) - pending_before_final
        current = await harness.current_states(first, clock.now)
        have = published_states(published)
        missed = sum(1 for tid, state in current.items() if have.get(tid) != state)
    finally:
        await stop_harness(harness)
    return BenchResult(
        name=NAME,
        subject="adaptive schedule (agents/paytrace_sweep.py) over a simulated day",
        baseline=f"read every 5 s tick, sampled over {OLD_TICKS} ticks at {OLD_AT_HOUR}:00",
        records=records,
        repeats=1,
        metrics=[
            Metric.of_runs(
                "records_downloaded_per_change",
                "records",
                [new_served / max(changes, 1)],
                [old_ratio or 0.0],
                higher_is_better=False,
            )
        ],
        notes={
            "transactions": seeded,
            "voids": voids,
            "settled": settled,
            "changes": changes,
            "records_downloaded": new_served,
            "reads": reads,
            "published_by_final_read": pending,
            "missed_after_final_read": missed,
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
