"""Topic replay: backfills from the payments topic and re-drives of dead letters.

Offsets are never reset: one consumer group serves every agent, so a reset would replay to
both sinks and needs every worker stopped. Records are republished instead, with the same key
to the same partition, while the workers run. Headers say which sink a replayed record is for;
the other sink acknowledges it without a call (``sink_skips``). Sinks are idempotent, so
republishing the current state of a transaction changes nothing that is already right.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from schemas.deadletter import DeadLetter
from stream.kafka import aiokafka_options
from stream.replay_headers import REPLAY_ID_HEADER, SINK_HEADER, replay_headers
from stream.replay_plan import (
    ALL,
    SINKS,
    Record,
    Redrive,
    RedriveReport,
    ReplayError,
    ReplayReport,
    partition_range,
    plan_redrive,
    select_latest,
)
from stream.settings import KafkaSettings
from stream.topic_names import topic_name

IDLE_LIMIT_SECONDS = 30.0
Progress = Callable[[int], None]


def resolve_bootstrap(kafka: KafkaSettings) -> str:
    if kafka.bootstrap is None:
        raise ReplayError(
            "no PAYSTREAM_KAFKA_BOOTSTRAP: replay needs the cluster the workers use "
            "(the embedded broker is private to the worker that started it)"
        )
    return kafka.bootstrap


class _Topic:
    """A read_committed consumer of every partition of one topic, for ranges by offset."""

    def __init__(self, kafka: KafkaSettings, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            **aiokafka_options(kafka, bootstrap),
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",  # an offset deleted by retention: from what is left
        )
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> _Topic:
        await self.consumer.start()
        if self.topic not in await self.consumer.topics():
            await self.consumer.stop()
            raise ReplayError(f"topic {self.topic} does not exist")
        numbers = sorted(self.consumer.partitions_for_topic(self.topic) or ())
        self.partitions = [TopicPartition(self.topic, p) for p in numbers]
        self.consumer.assign(self.partitions)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def ends(self) -> dict[int, int]:
        return _by_partition(await self.consumer.end_offsets(self.partitions))

    async def beginnings(self) -> dict[int, int]:
        return _by_partition(await self.consumer.beginning_offsets(self.partitions))

    async def offsets_at(self, when: datetime | None) -> dict[int, int | None]:
        if when is None:
            return {tp.partition: None for tp in self.partitions}
        found = await self.consumer.offsets_for_times(
            {tp: int(when.timestamp() * 1000) for tp in self.partitions}
        )
        return {tp.partition: (o.offset if o else None) for tp, o in found.items()}

    async def read(
        self, partition: int, start: int, stop: int, progress: Progress | None = None
    ) -> list[Record]:
        """Every committed record of ``[start, stop)``; aborted records and markers are skipped."""
        tp = TopicPartition(self.topic, partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        records: list[Record] = []
        idle_since = asyncio.get_running_loop().time()
        while await self.consumer.position(tp) < stop:
            batch = (await self.consumer.getmany(tp, timeout_ms=500)).get(tp, [])
            now = asyncio.get_running_loop().time()
            if batch:
                idle_since = now
            elif now - idle_since > IDLE_LIMIT_SECONDS:
                position = await self.consumer.position(tp)
                raise ReplayError(f"{self.topic}[{partition}] stopped at {position}, below {stop}")
            kept = [m for m in batch if m.offset < stop]
            records.extend(
                Record(partition, m.offset, m.key, m.value, tuple(m.headers or ())) for m in kept
            )
            if progress is not None and kept:
                progress(len(kept))
        return records


def _by_partition(offsets: Mapping[TopicPartition, int]) -> dict[int, int]:
    return {tp.partition: offset for tp, offset in offsets.items()}


def _producer(kafka: KafkaSettings, bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **aiokafka_options(kafka, bootstrap), acks="all", enable_idempotence=True, linger_ms=5
    )


async def replay_payments(
    kafka: KafkaSettings,
    *,
    since: datetime,
    until: datetime | None = None,
    sink: str = ALL,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Republish the latest state of every payment with a record in ``[since, until)``."""
    if sink not in (*SINKS, ALL):
        raise ReplayError(f"unknown sink {sink!r}: one of {', '.join((*SINKS, ALL))}")
    bootstrap = resolve_bootstrap(kafka)
    topic = topic_name(kafka, "payments")
    report = ReplayReport(rid := str(uuid.uuid4()), topic, sink, dry_run)
    producer = None if dry_run else _producer(kafka, bootstrap)
    async with _Topic(kafka, bootstrap, topic) as source:
        ends = await source.ends()  # the snapshot: the replay never reads its own output
        starts, stops = await source.offsets_at(since), await source.offsets_at(until)
        ranges = [partition_range(p, starts[p], stops[p], end) for p, end in ends.items()]
        if on_total is not None:
            on_total(sum(r.end - r.start for r in ranges))
        if producer is not None:
            await producer.start()
        try:
            for rng in ranges:
                selection = select_latest(
                    rng, await source.read(rng.partition, rng.start, rng.end, progress)
                )
                if producer is not None and selection.records():
                    now_end = (await source.ends())[rng.partition]
                    for record in await source.read(rng.partition, rng.end, now_end):
                        selection.add(record)  # a live change since the snapshot wins
                    await _send_all(
                        producer,
                        (
                            (
                                topic,
                                r.key,
                                r.value,
                                r.partition,
                                replay_headers(r.headers, rid, sink),
                            )
                            for r in selection.records()
                        ),
                    )
                report.partitions.append(selection)
        finally:
            if producer is not None:
                await producer.stop()
    return report


Outgoing = tuple[str, bytes | None, bytes | None, int | None, list[tuple[str, bytes]]]


async def _send_all(producer: AIOKafkaProducer, records: Iterable[Outgoing]) -> None:
    """(topic, key, value, partition, headers) each, acknowledged by every replica."""
    pending = []
    for topic, key, value, partition, headers in records:
        pending.append(
            await producer.send(topic, value, key=key, partition=partition, headers=headers)
        )
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


def _redrive_headers(item: Redrive, replay_id: str) -> list[tuple[str, bytes]]:
    headers = [(REPLAY_ID_HEADER, replay_id.encode())]
    return [(SINK_HEADER, item.sink.encode()), *headers] if item.sink else headers


async def redrive_dead_letters(
    kafka: KafkaSettings,
    *,
    reason: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
) -> RedriveReport:
    """Send dead-lettered payloads back to their source topic with their original key."""
    bootstrap = resolve_bootstrap(kafka)
    report = RedriveReport(str(uuid.uuid4()), dry_run)
    letters: list[DeadLetter] = []
    async with _Topic(kafka, bootstrap, topic_name(kafka, "deadletter")) as dlq:
        ends, firsts = await dlq.ends(), await dlq.beginnings()
        starts: Mapping[int, int | None] = await dlq.offsets_at(since) if since else firsts
        for partition, end in ends.items():
            first = starts[partition]
            for record in await dlq.read(partition, end if first is None else first, end):
                try:
                    letters.append(DeadLetter.model_validate_json(record.value or b""))
                except ValidationError:
                    report.unreadable += 1
    chosen, refused, report.duplicates = plan_redrive(
        letters, kafka, reason=reason, agent=agent, since=since
    )
    report.refused.update(refused)
    report.redriven.update(r.letter.reason for r in chosen)
    if dry_run or not chosen:
        return report
    producer = _producer(kafka, bootstrap)
    await producer.start()
    try:
        await _send_all(
            producer,
            (
                (
                    r.letter.source_topic,
                    r.letter.key.encode() if r.letter.key is not None else None,
                    r.letter.payload.encode(),
                    r.letter.source_partition,
                    _redrive_headers(r, report.replay_id),
                )
                for r in chosen
            ),
        )
    finally:
        await producer.stop()
    return report
