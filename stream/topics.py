"""Creating topics explicitly, with the configured partition count.

Faust would create a missing topic with one partition and then fail against its
changelogs (PartitionsMismatch), so every topic a worker touches is made here first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stream.kafka import aiokafka_options
from stream.settings import KafkaSettings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    partitions: int | None = None  # None: the configured default

    def config(self) -> dict[str, str]:
        return {"cleanup.policy": "compact"} if self.compacted else {}


def faust_internal_topics(app_id: str, tables: Iterable[str]) -> list[TopicSpec]:
    """The topics Faust itself uses: table changelogs and the leader-election topic."""
    specs = [TopicSpec(f"{app_id}-{table}-changelog", compacted=True) for table in tables]
    specs.append(TopicSpec(f"{app_id}-__assignor-__leader"))
    return specs


async def ensure_topics(
    settings: KafkaSettings, bootstrap: str, specs: Iterable[TopicSpec]
) -> None:
    """Create what is missing; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings, bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                spec.name,
                spec.partitions or settings.partitions,
                settings.replication_factor,
                topic_configs=spec.config(),
            )
            for spec in specs
            if spec.name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


async def delete_topics(settings: KafkaSettings, bootstrap: str, names: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(**aiokafka_options(settings, bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def read_all(
    settings: KafkaSettings, bootstrap: str, name: str, idle_ms: int = 1500
) -> list[tuple[bytes | None, bytes | None, dict[str, bytes]]]:
    """Every committed record of ``name`` (key, value, headers): for small topics and checks."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        name,
        **aiokafka_options(settings, bootstrap),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[tuple[bytes | None, bytes | None, dict[str, bytes]]] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                return records
            for messages in batch.values():
                records.extend((m.key, m.value, dict(m.headers or ())) for m in messages)
    finally:
        await consumer.stop()
