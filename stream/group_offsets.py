"""A consumer group's committed offsets and each partition's end, asked of the broker.

Asked of the broker rather than of Faust's in-memory view, so a figure keeps moving (or
visibly does not) while an agent is stuck and its partitions are paused. The end is the last
stable offset: we read committed, as Faust's consumers do.
"""

from __future__ import annotations

import weakref

import faust
import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.kafka import aiokafka_options
from stream.settings import KafkaSettings


class GroupOffsets:
    def __init__(self, kafka: KafkaSettings, bootstrap: str, group_id: str) -> None:
        self.kafka = kafka
        self.bootstrap = bootstrap
        self.group_id = group_id
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        options = aiokafka_options(self.kafka, self.bootstrap)
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

    async def positions(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, tuple[int, int]]:
        """Per partition: the group's committed offset (or the beginning) and the end."""
        admin, offsets = await self._clients()
        committed = await admin.list_consumer_group_offsets(self.group_id, partitions=partitions)
        ends: dict[TopicPartition, int] = await offsets.end_offsets(partitions)
        positions = {tp: committed[tp].offset if tp in committed else -1 for tp in partitions}
        uncommitted = [tp for tp, offset in positions.items() if offset < 0]
        if uncommitted:  # nothing committed yet: the group starts from the earliest offset
            positions.update(await offsets.beginning_offsets(uncommitted))
        return {tp: (positions[tp], ends[tp]) for tp in partitions}

    async def aclose(self) -> None:
        admin, self._admin = self._admin, None
        offsets, self._offsets = self._offsets, None
        if admin is not None:
            await admin.close()
        if offsets is not None:
            await offsets.stop()


_BY_APP: weakref.WeakKeyDictionary[faust.App, GroupOffsets] = weakref.WeakKeyDictionary()


def for_app(app: faust.App, kafka: KafkaSettings, bootstrap: str) -> GroupOffsets:
    """The one reader of an app's group offsets, closed when the app stops.

    The consumer-lag gauge and the stall watchdog ask the broker the same question; one admin
    client and one offsets consumer per worker answer both.
    """
    offsets = _BY_APP.get(app)
    if offsets is None:
        offsets = _BY_APP[app] = GroupOffsets(kafka, bootstrap, app.conf.id)
        reader = offsets

        class GroupOffsetsCloser(mode.Service):
            async def on_stop(self) -> None:
                await reader.aclose()

        app.service(GroupOffsetsCloser)
    return offsets
