"""Consumer lag per topic partition, measured the way `kafka-consumer-groups` does: the end of
each partition minus the group's committed offset (stream/group_offsets.py).

Each worker reports only the partitions assigned to it: summing over workers gives the
group's lag and no two workers report the same partition.
"""

from __future__ import annotations

import logging

from aiokafka import TopicPartition

from stream import group_offsets, metrics
from stream.context import PipelineContext

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


class ConsumerLag:
    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.sources = {topic.get_topic_name() for topic in ctx.topics.values()}
        self.offsets = group_offsets.for_app(ctx.app, ctx.kafka, ctx.bootstrap)
        self._reported: set[tuple[str, str]] = set()

    def assigned(self) -> list[TopicPartition]:
        return sorted(
            TopicPartition(tp.topic, tp.partition)
            for tp in self.ctx.app.consumer.assignment()
            if tp.topic in self.sources
        )

    async def lag(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        positions = await self.offsets.positions(partitions)
        return {tp: max(0, end - committed) for tp, (committed, end) in positions.items()}

    async def update(self) -> None:
        partitions = self.assigned()
        lag = await self.lag(partitions) if partitions else {}
        reported = set()
        for tp, messages in lag.items():
            labels = (tp.topic, str(tp.partition))
            metrics.CONSUMER_LAG.labels(*labels).set(messages)
            reported.add(labels)
        for labels in self._reported - reported:  # revoked: another worker reports it now
            metrics.CONSUMER_LAG.remove(*labels)
        self._reported = reported


def register(ctx: PipelineContext) -> ConsumerLag:
    reporter = ConsumerLag(ctx)

    @ctx.app.timer(INTERVAL_SECONDS, name="consumer_lag")
    async def consumer_lag() -> None:
        try:
            await reporter.update()
        except Exception as exc:  # a broker hiccup: the next tick measures again
            log.warning("consumer lag not measured: %r", exc)

    return reporter
