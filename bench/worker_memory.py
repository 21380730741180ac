"""``worker_memory``: worker RSS as distinct keys go through the normalizer's dedupe table.

One worker per repetition, sinks held (both systems answer 503) so only the normalizer's
table grows. Baseline: the same worker's RSS once healthy and idle, before any key; subject:
its RSS after ``records`` distinct transaction ids (each checkpoint of ``--keys``) have been
through the normalizer (its flow counters say so). Raw records are produced in chunks while
the worker runs, so the broker never holds a backlog bigger than a chunk ahead of it.

noida-db keeps every topic in memory and snapshots its whole state as one JSON file (about
7 KB per key over the run's topics at 100,000 keys), which kept a million keys out of reach.
After each chunk the rig therefore deletes (Kafka DeleteRecords) the raw records the group has
committed and the payments the held sinks hold back from reading (their partitions stay paused
on a full buffer for the whole run); the table's changelog is kept. What the worker holds is
unchanged. Notes carry the broker's RSS and data dir size and the records deleted.

The first keys go in small chunks, payments kept (``warm_up``): a held sink's full queue must
stop the payments partitions before a big chunk can overfill it and stall the whole worker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete

from agents.normalizer import PaymentNormalizer
from bench import procstat
from bench.records import raw_records
from bench.result import BenchResult, Metric
from bench.worker_cpu import HELD_ENV, HOLD_SECONDS, SINK_SYSTEMS
from bench.worker_rig import Rig, Run, wait_for
from stream.group_offsets import GroupOffsets
from stream.settings import WorkerSettings
from stream.topology import flow_named

NAME = "worker_memory"
DEFAULT_RECORDS = 3_000
CHUNK = 5_000
SETTLE_SECONDS = 3.0
FLOW = flow_named(PaymentNormalizer)
MIB = 1024 * 1024
TRIM_STEP_SECONDS = 120
# A held sink takes one batch, then nothing: later payments wait in its Faust queue
# (stream_buffer_maxsize). Once the queue is past size/1.25 (mode's FlowControlQueue) Faust
# stops fetching each payments partition at its next delivery there, but still hands on the
# rest of the batch it holds (up to 500 records). Should the queue reach its size, Faust's
# conductor waits for room that never comes, and its one delivery loop stops every agent,
# the normalizer too. A hung run (2026-11-29, 5,000-record chunks): both sinks had taken 44
# and queued 4,096, the risk keyer had 4,142, and the drain loop waited in `_handle_full` on
# a payment; one 12,000-record chunk with no trimming at all hung the same way. So until
# twice the queue size is fed, chunks are a sixteenth of it (about two chunks of payments
# unread at a time: under the fifth left) and no payment is deleted, so each reaches the
# queues and every payments partition stops before a big chunk comes.
WARM_UP_QUEUES = 2
WARM_UP_CHUNK_PART = 16


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def warm_up(run: Run) -> tuple[int, int]:
    """Keys fed in small chunks, and their chunk size (see ``WARM_UP_QUEUES``)."""
    queue = WorkerSettings(app_id=run.name).stream_buffer_maxsize
    return WARM_UP_QUEUES * queue, max(1, queue // WARM_UP_CHUNK_PART)


async def trim(run: Run, trim_payments: bool = True) -> int:
    """Deletes the raw records the group committed and, with ``trim_payments``, every payment
    (see the docstring); returns the records deleted from the two topics since the run began."""
    offsets = GroupOffsets(run.kafka, run.rig.bootstrap, run.name)
    admin = AIOKafkaAdminClient(bootstrap_servers=run.rig.bootstrap)
    # Runs that sat between the first chunk and the second were the overfilled queue (see
    # ``WARM_UP_QUEUES``), not this; a step past its ceiling still fails the run, named.
    step = "admin start"
    try:
        async with asyncio.timeout(TRIM_STEP_SECONDS):
            await admin.start()
        parts = range(run.kafka.partitions)
        raw = [TopicPartition(run.topic("paytrace_raw"), p) for p in parts]
        payments = [TopicPartition(run.topic("payments"), p) for p in parts]
        step = "group offsets"
        async with asyncio.timeout(TRIM_STEP_SECONDS):
            positions = await offsets.positions(raw + payments)
        upto = {tp: committed for tp, (committed, _) in positions.items() if tp in raw}
        if trim_payments:
            upto.update({tp: end for tp, (_, end) in positions.items() if tp in payments})
        upto = {tp: o for tp, o in upto.items() if o > 0}
        if upto:
            step = "delete records"
            async with asyncio.timeout(TRIM_STEP_SECONDS):
                to_delete = {tp: RecordsToDelete(o) for tp, o in upto.items()}
                await admin.delete_records(to_delete, 30_000)
        return sum(upto.values())
    except TimeoutError:
        raise TimeoutError(
            f"trimming the run's topics: {step} took over {TRIM_STEP_SECONDS}s"
        ) from None
    finally:
        await admin.close()
        await offsets.aclose()


async def feed(run: Run, first: int, count: int, done_before: int) -> None:
    warm_keys, warm_chunk = warm_up(run)
    start = 0
    while start < count:
        warm = done_before + start < warm_keys
        size = min(warm_chunk if warm else CHUNK, count - start)
        try:
            async with asyncio.timeout(TRIM_STEP_SECONDS + size / 100):
                await run.preload(raw_records(size, first_index=first + start))
        except TimeoutError:
            raise TimeoutError(f"producing {size} raw records did not finish") from None
        start += size
        target = done_before + start

        async def caught_up(target: float = target) -> bool:
            return await run.done(FLOW) >= target

        what = f"{target:.0f} keys through the normalizer"
        await wait_for(caught_up, what, 300 + size, 0.25 if warm else 1.0)
        if not warm:  # the warm-up's payments must reach the queues: none deleted before
            await trim(run)


async def run_worker_memory(
    records: int = DEFAULT_RECORDS, repeats: int = 3, checkpoints: tuple[int, ...] = ()
) -> BenchResult:
    points = sorted(set(checkpoints or (records,)))
    rss: dict[int, list[float]] = {k: [] for k in points}
    idle: list[float] = []
    broker_rss: dict[int, list[float]] = {k: [] for k in points}
    data_dir: dict[int, list[float]] = {k: [] for k in points}
    deleted: dict[int, list[int]] = {k: [] for k in points}
    async with Rig() as rig:
        for system in SINK_SYSTEMS:
            await rig.hold(system, HOLD_SECONDS)
        for rep in range(repeats):
            async with rig.run(**HELD_ENV) as run:
                run.start_worker()
                await wait_for(run.healthy, "worker healthy", 180)
                await asyncio.sleep(SETTLE_SECONDS)
                idle.append(run.rss_bytes() / MIB)
                fed = 0
                for keys in points:
                    await feed(run, 5_000_000 + rep * 10_000_000 + fed, keys - fed, fed)
                    fed = keys
                    await asyncio.sleep(SETTLE_SECONDS)
                    rss[keys].append(run.rss_bytes() / MIB)
                    assert rig.broker.pid is not None
                    broker_rss[keys].append(procstat.rss_bytes(rig.broker.pid) / MIB)
                    data_dir[keys].append(dir_bytes(rig.broker.data_dir) / MIB)
                    deleted[keys].append(await trim(run, keys >= warm_up(run)[0]))
    metrics = [
        Metric.of_runs(f"rss@{k}", f"RSS MiB at {k:,} keys", rss[k], idle, higher_is_better=False)
        for k in points
    ]
    return BenchResult(
        name=NAME,
        subject="worker RSS after N distinct keys through the dedupe table (sinks held)",
        baseline="the same worker's RSS when idle, before any key",
        records=points[-1],
        repeats=repeats,
        metrics=metrics,
        notes={
            "bytes_per_key": {
                k: [(r - i) * MIB / k for r, i in zip(rss[k], idle, strict=True)] for k in points
            },
            "broker_rss_mib": broker_rss,
            "broker_data_dir_mib": data_dir,
            "records_deleted_by_the_rig": deleted,
        },
    )
