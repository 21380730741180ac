"""Unsticks a partition that Faust stopped reading.

Measured with faust-streaming 0.15.3: around a restart or rebalance a fetched record can be
dropped while Faust's fetch position has already moved past it, and nothing seeks back until
the next rebalance, so the partition stalls with its committed offset just below the record.
A partition counts as stalled when, twice in a row, the group's committed offset is below the
partition's end, has not moved, and this worker holds no unacknowledged message at all (so
nothing is in progress whose commit is pending). Then it is sought back to the committed
offset: Faust reads the record again. Replays are harmless: every sink is idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition
from faust.types import TP

from agents.consumer_lag import ConsumerLag
from agents.context import PipelineContext

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 10.0


class StallWatchdog:
    def __init__(self, ctx: PipelineContext, lag: ConsumerLag) -> None:
        self.ctx = ctx
        self.lag = lag
        self._suspects: dict[TopicPartition, int] = {}  # partition -> committed offset seen

    def idle(self) -> bool:
        consumer: Any = self.ctx.app.consumer
        return not getattr(consumer, "_unacked_messages", ())

    async def check(self) -> list[TopicPartition]:
        """Seek back the partitions stalled since the previous check; returns them."""
        partitions = self.lag.assigned()
        if not partitions or not self.idle():
            self._suspects.clear()
            return []
        positions = await self.lag.positions(partitions)
        stalled = []
        suspects: dict[TopicPartition, int] = {}
        for tp, (committed, end) in positions.items():
            if committed >= end:
                continue
            if self._suspects.get(tp) == committed:
                stalled.append(tp)
            else:
                suspects[tp] = committed
        self._suspects = suspects
        for tp in stalled:
            committed = positions[tp][0]
            log.warning(
                "partition %s-%d stalled at offset %d with nothing in progress; reading it again",
                tp.topic,
                tp.partition,
                committed,
            )
            await self.ctx.app.consumer.seek(TP(tp.topic, tp.partition), committed)
        return stalled


def register(ctx: PipelineContext, lag: ConsumerLag) -> StallWatchdog:
    watchdog = StallWatchdog(ctx, lag)

    @ctx.app.timer(INTERVAL_SECONDS, name="stall_watchdog")
    async def stall_watchdog() -> None:
        try:
            await watchdog.check()
        except Exception as exc:  # a broker hiccup: the next tick looks again
            log.warning("stall watchdog skipped a check: %r", exc)

    return watchdog
