"""``broker_passthrough``: consume -> produce on the embedded broker, raw vs with the transform.

Baseline: raw aiokafka ``getmany`` -> ``send`` of each record unchanged (linger 10 ms,
256 KiB batches), the ceiling any Python pipeline on this broker can reach (KNOWN.md's
first row). Subject: the same loop doing the normalizer's per-record work (parse +
``to_payment`` + ``model_dump_json``) before sending. The broker runs on a fresh temp dir,
started and stopped here; every run writes to its own output topic, deleted right after,
because noida-db saves its whole state on every autosave and slows down as it grows.
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


async def pipe(bootstrap: str, output: str, expected: int, transform: Transform) -> Sample:
    """Read the whole input topic from the start and send each record on; timed from the
    first fetch to the last acknowledgement (client start-up and assignment excluded)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=BATCH_BYTES
    )
    producer = _producer(bootstrap)
    await consumer.start()
    await producer.start()
    try:
        partitions = [TopicPartition(INPUT_TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        sample = Sample(expected)
        deliveries: list[asyncio.Future[object]] = []
        empty = 0
        with timed(sample):
            while len(deliveries) < expected:
                batches = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=2000)
                empty = 0 if batches else empty + 1
                if empty >= MAX_EMPTY_FETCHES:
                    raise RuntimeError(f"input ran dry after {len(deliveries)} of {expected}")
                for messages in batches.values():
                    for message in messages:
                        value = transform(message.value or b"")
                        deliveries.append(await producer.send(output, value, key=message.key))
            await producer.flush()
        for delivery in deliveries:
            delivery.result()  # raise the first delivery error, if any
        return sample
    finally:
        await producer.stop()
        await consumer.stop()


async def _run_once(
    bootstrap: str, settings: KafkaSettings, label: str, records: int, transform: Transform
) -> Sample:
    output = f"bench-out-{label}"
    await ensure_topics(settings, bootstrap, [TopicSpec(output)])
    try:
        return await pipe(bootstrap, output, records, transform)
    finally:
        await delete_topics(settings, bootstrap, [output])


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
                # Alternate the order: the broker's state (and its save cost) changes over time.
                order = ("subject", "baseline") if rep % 2 else ("baseline", "subject")
                for side in order:
                    fn = transform if side == "subject" else passthrough
                    sample = await _run_once(bootstrap, settings, f"{side}-{rep}", records, fn)
                    (subject if side == "subject" else baseline).append(sample)
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
            "bytes_per_record": round(sum(map(len, values)) / max(len(values), 1)),
        },
    )
