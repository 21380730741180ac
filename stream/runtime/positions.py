"""Small durable positions (watermarks, replay ids) in a compacted topic, one key each.

A source writes its position only after the records it covers are acknowledged, and any
worker that becomes leader reads the newest value per key back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel

from stream.context import PipelineContext
from stream.kafka import aiokafka_options

M = TypeVar("M", bound=BaseModel)


async def source_producer(ctx: PipelineContext) -> AIOKafkaProducer:
    """A started idempotent producer for sources that publish outside Faust's agents."""
    producer = AIOKafkaProducer(
        **aiokafka_options(ctx.kafka, ctx.bootstrap),
        acks="all",
        enable_idempotence=True,
        linger_ms=ctx.worker.producer_linger_ms,
    )
    await producer.start()
    return producer


class CompactedPosition:
    def __init__(
        self,
        ctx: PipelineContext,
        topic: str,
        producer: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        """``producer``: an owner's producer to write with (its owner stops it); without one,
        the store starts and stops its own."""
        self.ctx = ctx
        self.topic = topic
        self._cache: dict[str, bytes] | None = None
        self._shared = producer
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        if self._shared is not None:
            return await self._shared()
        async with self._producer_lock:  # channels checkpoint concurrently: one producer
            if self._producer is None:
                self._producer = await source_producer(self.ctx)
        return self._producer

    async def load(self) -> dict[str, bytes]:
        """Newest value per key (the topic has one partition)."""
        consumer = AIOKafkaConsumer(
            **aiokafka_options(self.ctx.kafka, self.ctx.bootstrap),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        values: dict[str, bytes] = {}
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            end = (await consumer.end_offsets([partition]))[partition]
            await consumer.seek_to_beginning(partition)
            while end and await consumer.position(partition) < end:
                batch = await consumer.getmany(partition, timeout_ms=2000)
                for message in batch.get(partition, []):
                    if message.key is not None and message.value is not None:
                        values[message.key.decode()] = message.value
        finally:
            await consumer.stop()
        return values

    async def get(self, key: str, model: type[M]) -> M | None:
        if self._cache is None:
            self._cache = await self.load()
        raw = self._cache.get(key)
        return model.model_validate_json(raw) if raw is not None else None

    async def put(self, key: str, value: BaseModel) -> None:
        producer = await self.producer()
        raw = value.model_dump_json().encode()
        await producer.send_and_wait(self.topic, key=key.encode(), value=raw)
        if self._cache is not None:
            self._cache[key] = raw

    def forget(self) -> None:
        """Re-read on next use (another worker may have been leader meanwhile)."""
        self._cache = None

    async def aclose(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
