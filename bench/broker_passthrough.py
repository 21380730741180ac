"""``broker_passthrough``: consume -> produce on the embedded broker, raw vs with the transform.

Baseline: raw aiokafka ``getmany`` -> ``send`` of each record unchanged (linger 10 ms,
256 KiB batches), the ceiling any Python pipeline on this broker can reach (KNOWN.md's
first row). Subject: the same loop doing the normalizer's per-record work (parse +
``to_payment`` + ``model_dump_json``) before sending. Both sides read the same input topic
in alternating turns. The broker runs on a fresh temp dir, started and stopped here; every
run writes to its own output topics, deleted right after, because noida-db saves its whole
state on every autosave and slows down as it grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.records import raw_records
from bench.result import BenchResult, Sample, cpu_metric, rate_metric, timed
from schemas.raw import RawPayTraceTransaction
from stream.broker import EmbeddedBroker
from stream.mapping import Mapping, load_mapping
from stream.settings import KafkaSettings
from stream.topics import TopicSpec, delete_topics, ensure_topics
from stream.transform import to_payment

NAME = "broker_passthrough"
DEFAULT_RECORDS = 20_000
PARTITIONS = 4
INPUT_TOPIC = "bench-paytrace-raw"
LINGER_MS = 10
BATCH_BYTES = 256 * 1024
FETCH_TIMEOUT_MS = 1000
MAX_RECORDS = 2000  # per getmany
TURN = 5000  # records per side per turn: long enough that a turn's final flush is noise
MAX_EMPTY_FETCHES = 10  # a stalled broker fails the run instead of hanging it
Transform = Callable[[bytes], bytes]


def passthrough(value: bytes) -> bytes:
    return value


def normalizer(mapping: Mapping) -> Transform:
    def transform(value: bytes) -> bytes:
        raw = RawPayTraceTransaction.model_validate_json(value)
        return to_payment(raw, mapping).model_dump_json().encode()

    return transform


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES
    )


async def fill_input(bootstrap: str, values: list[bytes]) -> None:
    producer = _producer(bootstrap)
    await producer.start()
    try:
        for index, value in enumerate(values):
            await producer.send(INPUT_TOPIC, value, key=str(index).encode())
        await producer.flush()
    finally:
        await producer.stop()


class Pipe:
    """One side's consume -> produce loop over the whole input topic, run in turns: between
    turns its partitions are paused, so an idle side neither fetches nor sends."""

    def __init__(self, bootstrap: str, output: str, transform: Transform) -> None:
        self.output = output
        self.transform = transform
        self.partitions = [TopicPartition(INPUT_TOPIC, p) for p in range(PARTITIONS)]
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=BATCH_BYTES,
        )
        self.producer = _producer(bootstrap)
        self.deliveries: list[asyncio.Future[object]] = []

    async def start(self) -> None:
        await self.consumer.start()
        await self.producer.start()
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)
        self.consumer.pause(*self.partitions)

    async def stop(self) -> None:
        await self.producer.stop()
        await self.consumer.stop()

    async def turn(self, count: int, sample: Sample) -> None:
        """Pass ``count`` more records on; timed from the first fetch to the last ack."""
        self.consumer.resume(*self.partitions)
        target = len(self.deliveries) + count
        empty = 0
        with timed(sample):
            while len(self.deliveries) < target:
                batches = await self.consumer.getmany(
                    timeout_ms=FETCH_TIMEOUT_MS,
                    max_records=min(MAX_RECORDS, target - len(self.deliveries)),
                )
                empty = 0 if batches else empty + 1
                if empty >= MAX_EMPTY_FETCHES:
                    raise RuntimeError(f"input ran dry after {len(self.deliveries)} records")
                for messages in batches.values():
                    for message in messages:
                        value = self.transform(message.value or b"")
                        self.deliveries.append(
                            await self.producer.send(self.output, value, key=message.key)
                        )
            await self.producer.flush()
        self.consumer.pause(*self.partitions)
        for delivery in self.deliveries[target - count :]:
            delivery.result()  # raise the first delivery error, if any


async def one_run(
    bootstrap: str, settings: KafkaSettings, records: int, transform: Transform, rep: int
) -> tuple[Sample, Sample]:
    """(subject, baseline): both sides read the whole input, taking turns of TURN records so
    a load change on the machine (or in the broker) hits both alike."""
    sides = {
        "subject": Pipe(bootstrap, f"bench-out-subject-{rep}", transform),
        "baseline": Pipe(bootstrap, f"bench-out-baseline-{rep}", passthrough),
    }
    samples = {name: Sample(records) for name in sides}
    outputs = [pipe.output for pipe in sides.values()]
    await ensure_topics(settings, bootstrap, [TopicSpec(name) for name in outputs])
    try:
        for pipe in sides.values():
            await pipe.start()
        order = list(sides)
        for turn, start in enumerate(range(0, records, TURN)):
            count = min(TURN, records - start)
            for name in order[:: -1 if (turn + rep) % 2 else 1]:
                await sides[name].turn(count, samples[name])
    finally:
        for pipe in sides.values():
            await pipe.stop()
        await delete_topics(settings, bootstrap, outputs)
    return samples["subject"], samples["baseline"]


async def run_broker_passthrough(
    records: int = DEFAULT_RECORDS, repeats: int = 3, data_dir: Path | None = None
) -> BenchResult:
    values = raw_records(records)
    transform = normalizer(load_mapping())
    transform(values[0])  # warm-up outside the timed runs
    settings = KafkaSettings(bootstrap=None, partitions=PARTITIONS, replication_factor=1)
    subject: list[Sample] = []
    baseline: list[Sample] = []
    with contextlib.ExitStack() as stack:
        root = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        broker = EmbeddedBroker(root / "broker")
        await broker.start()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
        await ensure_topics(settings, bootstrap, [TopicSpec(INPUT_TOPIC)])
        try:
            await fill_input(bootstrap, values)
            for rep in range(repeats):
                subject_run, baseline_run = await one_run(
                    bootstrap, settings, records, transform, rep
                )
                subject.append(subject_run)
                baseline.append(baseline_run)
        finally:
            await delete_topics(settings, bootstrap, [INPUT_TOPIC])
    return BenchResult(
        name=NAME,
        subject="aiokafka getmany -> paystream transform -> send",
        baseline="aiokafka getmany -> send (raw pass-through)",
        records=records,
        repeats=repeats,
        metrics=[rate_metric(subject, baseline), cpu_metric(subject, baseline)],
        notes={
            "partitions": PARTITIONS,
            "linger_ms": LINGER_MS,
            "batch_bytes": BATCH_BYTES,
            "turn_records": TURN,
            "bytes_per_record": round(sum(map(len, values)) / max(len(values), 1)),
        },
    )
