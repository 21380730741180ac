"""Consumer lag per topic partition, measured the way `kafka-consumer-groups` does: the end of
each partition (the last stable offset: we read committed) minus the group's committed offset.

Asked of the broker, not of Faust's in-memory view, so the figure keeps growing while an agent
is stuck and its partitions are paused. Each worker reports only the partitions assigned to it:
summing over workers gives the group's lag and no two workers report the same partition.
"""

from __future__ import annotations

import logging

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agents.context import PipelineContext
from stream import metrics
from stream.kafka import aiokafka_options

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


class ConsumerLag:
    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.sources = {topic.get_topic_name() for topic in ctx.topics.values()}
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._reported: set[tuple[str, str]] = set()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        options = aiokafka_options(self.ctx.kafka, self.ctx.bootstrap)
        if self._admin is None:
            admin = AIOKafkaAdminClient(**options)
            await admin.start()
            self._admin = admin
        if self._offsets is None:
            # No group: this client only asks for offsets and never joins the worker's group.
            offsets = AIOKafkaConsumer(
                **options, enable_auto_commit=False, isolation_level="read_committed"
            )
            await offsets.start()
            self._offsets = offsets
        return self._admin, self._offsets

    def assigned(self) -> list[TopicPartition]:
        return sorted(
            TopicPartition(tp.topic, tp.partition)
            for tp in self.ctx.app.consumer.assignment()
            if tp.topic in self.sources
        )

    async def positions(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, tuple[int, int]]:
        """Per partition: the group's committed offset (or the beginning) and the end."""
        admin, offsets = await self._clients()
        committed = await admin.list_consumer_group_offsets(
            self.ctx.worker.app_id, partitions=partitions
        )
        ends: dict[TopicPartition, int] = await offsets.end_offsets(partitions)
        positions = {tp: committed[tp].offset if tp in committed else -1 for tp in partitions}
        uncommitted = [tp for tp, offset in positions.items() if offset < 0]
        if uncommitted:  # nothing committed yet: the group starts from the earliest offset
            positions.update(await offsets.beginning_offsets(uncommitted))
        return {tp: (positions[tp], ends[tp]) for tp in partitions}

    async def lag(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        positions = await self.positions(partitions)
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

    async def aclose(self) -> None:
        admin, self._admin = self._admin, None
        offsets, self._offsets = self._offsets, None
        if admin is not None:
            await admin.close()
        if offsets is not None:
            await offsets.stop()


def register(ctx: PipelineContext) -> ConsumerLag:
    reporter = ConsumerLag(ctx)

    @ctx.app.timer(INTERVAL_SECONDS, name="consumer_lag")
    async def consumer_lag() -> None:
        try:
            await reporter.update()
        except Exception as exc:  # a broker hiccup: the next tick measures again
            log.warning("consumer lag not measured: %r", exc)

    class LagClientCloser(mode.Service):
        async def on_stop(self) -> None:
            await reporter.aclose()

    ctx.app.service(LagClientCloser)
    return reporter
