"""The latest records of a pipeline topic, with the mapping version that produced each.

Reads the last few records of every partition without joining a consumer group (no offsets
committed, nothing the workers would notice), read_committed like the workers. Keys are shown
as the workers wrote them (redacted at the door); values are not shown at all.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.kafka import aiokafka_options
from stream.mapping_version import header_version
from stream.settings import KafkaSettings
from stream.topic_names import TOPICS, topic_name

PER_PARTITION = 5
READ_SECONDS = 5.0


async def latest(
    kafka: KafkaSettings, bootstrap: str, logical: str, per_partition: int = PER_PARTITION
) -> list[dict[str, Any]]:
    if logical not in TOPICS:
        raise KeyError(f"no topic {logical!r}")
    name = topic_name(kafka, logical)
    consumer = AIOKafkaConsumer(
        **aiokafka_options(kafka, bootstrap),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        wanted = {}
        for tp in partitions:
            if ends[tp] > starts[tp]:
                consumer.seek(tp, max(starts[tp], ends[tp] - per_partition))
                wanted[tp] = ends[tp]
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + READ_SECONDS
        while wanted and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                for message in messages:
                    found.append(
                        {
                            "partition": tp.partition,
                            "offset": message.offset,
                            "timestamp": message.timestamp,
                            "key": (message.key or b"").decode("utf-8", "replace")[:80],
                            "mapping_version": header_version(message.headers),
                        }
                    )
            for tp in list(wanted):  # the position counts transaction markers too
                if await consumer.position(tp) >= wanted[tp]:
                    wanted.pop(tp)
        return sorted(found, key=lambda r: r["timestamp"], reverse=True)
    finally:
        await consumer.stop()
