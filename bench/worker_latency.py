"""``worker_latency``: raw topic to ``Payment__c`` latency of one worker at steady offered rates.

Each rate step offers ``records`` raw records at a steady pace (one every 1/rate s, paced on
the monotonic clock). Subject: one `paystream worker`; a record's latency is the Salesforce
emulator's ``CreatedDate`` of its ``Payment__c`` (millisecond precision, same machine clock)
minus the wall time just before it was sent to the raw topic. Baseline: a plain aiokafka
pass-through in this process (raw topic -> the normalizer's transform -> an output topic,
read back by a second consumer; no empty-fetch hold), latency = read-back time minus send
time. Both sides live for the whole repetition; the idle one has its partitions paused; the
order of the sides alternates per step and repetition.

Each worker step also splits its latency at the ``payments`` topic: raw send to the
normalizer's output record (its Kafka CreateTime, set by the worker's producer) and from there
to ``CreatedDate`` (the Salesforce sink's window and call), ``normalized_*`` and ``sunk_*`` in
the notes: which batch window a payment waits in.

A rate is *held* when every record arrived and the latency trend over the step (least-squares
slope of latency over send time) is at most ``HELD_SLOPE`` (lag growing by less than 50 ms
per second: the pipeline keeps at least ~95 % of the offered pace) or adds up to at most
``HELD_GROWTH_SECONDS`` over the whole step (the sinks' batch window makes latency a
saw-tooth, which tilts the trend of a short step either way).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import procstat
from bench.broker_passthrough import normalizer
from bench.records import raw_records
from bench.result import BenchResult, Metric
from bench.worker_rig import BATCH_BYTES, LINGER_MS, Rig, Run, raw_keys, wait_for
from stream.mapping import load_mapping
from stream.topics import TopicSpec, ensure_topics

NAME = "worker_latency"
DEFAULT_RECORDS = 200  # offered per rate step
DEFAULT_RATES = (20.0, 50.0)
HELD_SLOPE = 0.05
HELD_GROWTH_SECONDS = 1.0
Step = dict[str, float]


def _created(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def split(sent: dict[str, float], normalized: dict[str, float], arrived: dict[str, float]) -> Step:
    """p50/p99 ms of each part of the worker's latency, cut at the payments record."""
    parts = {
        "normalized": [normalized[k] - sent[k] for k in sent if k in normalized],
        "sunk": [arrived[k] - normalized[k] for k in arrived if k in normalized],
    }
    return {
        f"{name}_{q}_ms": procstat.percentile(values, q) * 1000 if values else float("nan")
        for name, values in parts.items()
        for q in (50, 99)
    }


def summarise(sent: dict[str, float], arrived: dict[str, float]) -> Step:
    """p50/p99 in ms, the lag trend and whether the rate was held, from send/arrival times."""
    start = min(sent.values())
    points = [(sent[k] - start, arrived[k] - sent[k]) for k in sent if k in arrived]
    latencies = [latency for _, latency in points]
    trend = procstat.slope(points)
    complete = len(points) == len(sent)
    span = max(sent.values()) - start
    return {
        "p50_ms": procstat.percentile(latencies, 50) * 1000 if latencies else float("nan"),
        "p99_ms": procstat.percentile(latencies, 99) * 1000 if latencies else float("nan"),
        "slope": trend,
        "delivered": len(points) / len(sent),
        "held": float(complete and (trend <= HELD_SLOPE or trend * span <= HELD_GROWTH_SECONDS)),
    }


async def offer(
    producer: AIOKafkaProducer, topic: str, values: list[bytes], rate: float
) -> dict[str, float]:
    """Send at a steady pace; returns key -> wall time just before its send."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    futures = []
    for index, (value, key) in enumerate(zip(values, raw_keys(values), strict=True)):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[key.decode()] = time.time()
        futures.append(await producer.send(topic, value, key=key))
    await producer.flush()
    for future in futures:
        await future
    return sent


class WorkerSide:
    def __init__(self, run: Run, producer: AIOKafkaProducer) -> None:
        self.run = run
        self.producer = producer
        # The normalizer's output, read as it comes: each payment's CreateTime, by key.
        self.payments = AIOKafkaConsumer(
            run.topic("payments"),
            bootstrap_servers=run.rig.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.normalized: dict[str, float] = {}
        self.reader: asyncio.Task[None] | None = None

    async def _read_payments(self) -> None:
        while True:
            for messages in (await self.payments.getmany(timeout_ms=200)).values():
                for m in messages:
                    self.normalized[(m.key or b"").decode()] = m.timestamp / 1000

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        await self.payments.stop()

    async def start(self, warm: list[bytes]) -> None:
        await self.payments.start()
        self.reader = asyncio.create_task(self._read_payments())
        self.run.start_worker()
        await wait_for(self.run.healthy, "worker healthy", 180)
        await self.step(warm, 10.0)  # connections, tokens and caches warm before timing

    async def step(self, values: list[bytes], rate: float) -> Step:
        sent = await offer(self.producer, self.run.topic("paytrace_raw"), values, rate)
        arrived: dict[str, float] = {}

        async def sunk() -> bool:
            # The org itself, not the sink's counters: a record counted twice (a retry)
            # would end the wait before the last Payment__c exists.
            records = (await self.run.rig.control("salesforce", "records/Payment__c"))["records"]
            for r in records:
                if r["PaymentID__c"] in sent:
                    arrived[r["PaymentID__c"]] = _created(r["CreatedDate"])
            return len(arrived) == len(sent)

        try:
            await wait_for(sunk, "payments in Salesforce", 60 + 3 * len(values) / rate, every=1.0)
        except TimeoutError:
            pass  # not held: summarise what arrived

        async def read() -> bool:
            return all(k in self.normalized for k in arrived)

        try:  # what reached Salesforce went through payments: it is there to be read
            await wait_for(read, "payments records read back", 60)
        except TimeoutError:
            pass
        return {**summarise(sent, arrived), **split(sent, self.normalized, arrived)}


class PassthroughSide:
    """raw -> transform -> out, read back; partitions paused between steps."""

    def __init__(self, run: Run, producer: AIOKafkaProducer) -> None:
        self.run = run
        self.producer = producer
        self.input = f"{run.name}-latency-in"
        self.output = f"{run.name}-latency-out"
        parts = range(run.kafka.partitions)
        self.in_parts = [TopicPartition(self.input, p) for p in parts]
        self.out_parts = [TopicPartition(self.output, p) for p in parts]
        bootstrap = run.rig.bootstrap
        self.pipe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.transform = normalizer(load_mapping())
        self.arrived: dict[str, float] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, warm: list[bytes]) -> None:
        await ensure_topics(
            self.run.kafka, self.run.rig.bootstrap, [TopicSpec(self.input), TopicSpec(self.output)]
        )
        for consumer, parts in ((self.pipe, self.in_parts), (self.reader, self.out_parts)):
            await consumer.start()
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            consumer.pause(*parts)
        self.tasks = [asyncio.create_task(self._pipe()), asyncio.create_task(self._read())]
        await self.step(warm, 10.0)

    async def _pipe(self) -> None:
        while True:
            for messages in (await self.pipe.getmany(timeout_ms=200)).values():
                for m in messages:
                    await self.producer.send(self.output, self.transform(m.value or b""), key=m.key)

    async def _read(self) -> None:
        while True:
            for messages in (await self.reader.getmany(timeout_ms=200)).values():
                now = time.time()
                for m in messages:
                    self.arrived[(m.key or b"").decode()] = now

    async def step(self, values: list[bytes], rate: float) -> Step:
        self.pipe.resume(*self.in_parts)
        self.reader.resume(*self.out_parts)
        try:
            sent = await offer(self.producer, self.input, values, rate)

            async def read_back() -> bool:
                return all(k in self.arrived for k in sent)

            try:
                await wait_for(read_back, "pass-through read back", 60 + 3 * len(values) / rate)
            except TimeoutError:
                pass
        finally:
            self.pipe.pause(*self.in_parts)
            self.reader.pause(*self.out_parts)
        return summarise(sent, self.arrived)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pipe.stop()
        await self.reader.stop()


async def run_worker_latency(
    records: int = DEFAULT_RECORDS, repeats: int = 3, rates: tuple[float, ...] = DEFAULT_RATES
) -> BenchResult:
    worker_steps: dict[float, list[Step]] = {rate: [] for rate in rates}
    base_steps: dict[float, list[Step]] = {rate: [] for rate in rates}
    async with Rig() as rig:
        for rep in range(repeats):
            base = 3_000_000 + rep * 2 * (len(rates) + 1) * records
            producer = AIOKafkaProducer(
                bootstrap_servers=rig.bootstrap, linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES
            )
            await producer.start()
            async with rig.run() as run:
                worker, passthrough = WorkerSide(run, producer), PassthroughSide(run, producer)
                try:
                    await worker.start(raw_records(5, first_index=base))
                    await passthrough.start(raw_records(5, first_index=base + 5))
                    for step, rate in enumerate(rates):
                        first = base + (2 * step + 1) * records
                        sides: list[
                            tuple[
                                WorkerSide | PassthroughSide, dict[float, list[Step]], list[bytes]
                            ]
                        ] = [
                            (worker, worker_steps, raw_records(records, first_index=first)),
                            (
                                passthrough,
                                base_steps,
                                raw_records(records, first_index=first + records),
                            ),
                        ]
                        for side, steps, values in sides[:: -1 if (rep + step) % 2 else 1]:
                            steps[rate].append(await side.step(values, rate))
                finally:
                    await passthrough.stop()
                    await worker.stop()
                    await producer.stop()
    metrics = []
    for rate in rates:
        for q in ("p50_ms", "p99_ms"):
            metrics.append(
                Metric.of_runs(
                    f"{q}@{rate:g}",
                    f"{q[:3]} ms at {rate:g}/s",
                    [s[q] for s in worker_steps[rate]],
                    [s[q] for s in base_steps[rate]],
                    higher_is_better=False,
                )
            )
    held = [r for r in rates if all(s["held"] for s in worker_steps[r])]
    return BenchResult(
        name=NAME,
        subject="1 paystream worker: raw topic -> Payment__c CreatedDate",
        baseline="aiokafka raw -> transform -> topic, read back (this process)",
        records=records,
        repeats=repeats,
        metrics=metrics,
        notes={
            "rates": list(rates),
            "highest_rate_held": max(held) if held else None,
            "worker_steps": {f"{r:g}": worker_steps[r] for r in rates},
            "baseline_steps": {f"{r:g}": base_steps[r] for r in rates},
        },
    )
