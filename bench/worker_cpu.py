"""``worker_normalizer`` and ``worker_idle``: CPU of a real `paystream worker` process.

``worker_normalizer``: a raw backlog is preloaded, then a worker drains it into the payments
topic. Subject: the worker's CPU (``/proc/<pid>/stat``, all threads) per raw record, from its
first finished record to its last (start-up and joining left out), with both sink systems
answering 503 so the sinks hold their records (stall watchdog off, see ``HELD_ENV``): the
window is the normalizer's work plus the risk keyer's and scorer's, which read the payments
topic and write only to Kafka (a worker runs every flow of the topology). Baseline: a raw aiokafka
``getmany`` -> ``send`` of the same records from the same topic in this process
(``bench.broker_passthrough.Pipe``), in the same repetition; the sides' order alternates.

``worker_idle``: cores used by an idle worker (no records, default poll interval) over a
window, against an idle plain aiokafka consumer with no empty-fetch hold
(``bench.idle_consumer``), windows alternated.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from functools import partial

from aiokafka import TopicPartition

from agents.normalizer import PaymentNormalizer
from bench import procstat
from bench.broker_passthrough import Pipe, passthrough
from bench.records import raw_records
from bench.result import BenchResult, Metric, Sample
from bench.worker_rig import Rig, Run, wait_for
from stream.topics import TopicSpec, delete_topics, ensure_topics
from stream.topology import flow_named

NORMALIZER = "worker_normalizer"
IDLE = "worker_idle"
DEFAULT_RECORDS = 3_000
IDLE_WINDOW_SECONDS = 5.0
AFTER_SECONDS = 3.0
SAMPLE_SECONDS = 0.5
FLOW = flow_named(PaymentNormalizer)
HOLD_SECONDS = 3600.0
SINK_SYSTEMS = ("salesforce", "sagepro")
# The stall watchdog would seek a held sink's partitions again and again (its lag does not
# move): measured 0.13 against 0.07 of a core once a 2,000-record backlog was through.
HELD_ENV = {"PAYSTREAM_STALL_CHECK_SECONDS": "0"}


async def worker_side(run: Run, records: int) -> Sample:
    """CPU from the first finished record to the last, per record in that window."""
    run.start_worker()
    first: tuple[float, float, float] | None = None  # (time, cpu, done)
    deadline = time.monotonic() + 120 + records / 5
    while True:
        done = await run.done(FLOW)
        cpu, now = run.cpu_seconds(), time.monotonic()
        if first is None and done > 0:
            first = (now, cpu, done)
        if first is not None and done >= records:
            break
        if now > deadline:
            raise TimeoutError(f"normalizer finished {done} of {records}:\n{run.logs()}")
        await asyncio.sleep(SAMPLE_SECONDS)
    # What the held sinks and timers cost once the backlog is through: near idle, or the
    # window above was not the normalizer's alone.
    await asyncio.sleep(AFTER_SECONDS)
    after = await cores_over(run.pids()[0], AFTER_SECONDS)
    for worker in run.workers:  # an idle side must not load the other side's turn
        worker.stop()
    counted = done - first[2]
    sample = Sample(int(counted), seconds=now - first[0], cpu_seconds=cpu - first[1])
    sample.extra["cores_after"] = after
    return sample


async def passthrough_side(run: Run, records: int, rep: int) -> Sample:
    output = f"{run.name}-passthrough-{rep}"
    await ensure_topics(run.kafka, run.rig.bootstrap, [TopicSpec(output)])
    pipe = Pipe(run.rig.bootstrap, output, passthrough)
    raw = run.topic("paytrace_raw")
    pipe.partitions = [TopicPartition(raw, p) for p in range(run.kafka.partitions)]
    sample = Sample(records)
    try:
        await pipe.start()
        await pipe.turn(records, sample)
    finally:
        await pipe.stop()
        await delete_topics(run.kafka, run.rig.bootstrap, [output])
    return sample


async def run_worker_normalizer(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    subject: list[Sample] = []
    baseline: list[Sample] = []
    async with Rig() as rig:
        for system in SINK_SYSTEMS:
            await rig.hold(system, HOLD_SECONDS)
        for rep in range(repeats):
            values = raw_records(records, first_index=rep * records)
            async with rig.run(**HELD_ENV) as run:
                await run.preload(values)
                sides = [("worker", worker_side(run, records))]
                sides.append(("passthrough", passthrough_side(run, records, rep)))
                results: dict[str, Sample] = {}
                for name, side in sides[:: -1 if rep % 2 else 1]:
                    results[name] = await side
            subject.append(results["worker"])
            baseline.append(results["passthrough"])
    return BenchResult(
        name=NORMALIZER,
        subject="paystream worker draining a preloaded raw backlog (sinks held)",
        baseline="aiokafka getmany -> send of the same records, in this process",
        records=records,
        repeats=repeats,
        metrics=[
            Metric.of_sides(
                "cpu",
                "CPU us/record",
                subject,
                baseline,
                lambda s: s.cpu_us_per_record,
                higher_is_better=False,
            ),
            Metric.of_sides("throughput", "records/s", subject, baseline, lambda s: s.rate),
        ],
        notes={
            "worker_window_records": [s.records for s in subject],
            "worker_cores_3s_after_backlog_sinks_held": [s.extra["cores_after"] for s in subject],
        },
    )


async def cores_over(pid: int, seconds: float) -> float:
    before, start = procstat.cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (procstat.cpu_seconds(pid) - before) / (time.monotonic() - start)


async def idle_consumer_cores(run: Run, seconds: float) -> float:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.idle_consumer",
        run.rig.bootstrap,
        run.topic("paytrace_raw"),
        str(run.kafka.partitions),
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"idle consumer did not start: {line!r}")
        return await cores_over(proc.pid, seconds)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def run_worker_idle(records: int = 0, repeats: int = 3) -> BenchResult:
    """``records`` is unused (an idle worker has none); the window is IDLE_WINDOW_SECONDS."""
    subject: list[float] = []
    baseline: list[float] = []
    async with Rig() as rig, rig.run() as run:
        worker = run.start_worker()
        await wait_for(run.healthy, "worker healthy", 180)
        await asyncio.sleep(5)  # let the first polls and the group settle
        for rep in range(repeats):
            assert worker.pid is not None
            sides = {
                "worker": partial(cores_over, worker.pid, IDLE_WINDOW_SECONDS),
                "consumer": partial(idle_consumer_cores, run, IDLE_WINDOW_SECONDS),
            }
            results = {}
            for name in list(sides)[:: -1 if rep % 2 else 1]:
                results[name] = await sides[name]()
            subject.append(results["worker"])
            baseline.append(results["consumer"])
    return BenchResult(
        name=IDLE,
        subject="idle paystream worker (empty topics, long poll on)",
        baseline="idle plain aiokafka consumer, no empty-fetch hold (own process)",
        records=0,
        repeats=repeats,
        metrics=[
            Metric.of_runs("cores", "cores (CPU s/s)", subject, baseline, higher_is_better=False)
        ],
        notes={"window_seconds": IDLE_WINDOW_SECONDS},
    )
