"""``worker_drain``: a preloaded raw backlog drained to both systems by 1 and by 2 workers.

Subject: two `paystream worker` processes; baseline: one, on the same rig in the same
repetition (order alternated; each side has its own topics and its own new transactions, so
the emulators do the same inserts). Per sink, the rate is taken from the sink's first finished
record to its last (start-up and joining left out), read from the workers' own flow counters
(``paystream_events_{out,failed,ignored}_total``). API calls per 1,000 payments come from the
emulators: the Salesforce org's API usage counter (every flow's calls), and Sage Pro's
request log total (only the payment sink writes to Sage Pro here). Worker CPU per payment end
to end is every worker's CPU from the normalizer's first finished record until both sinks are
done, over the backlog.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from agents.normalizer import PaymentNormalizer
from agents.sagepro_sink import SageProPaymentSink
from agents.salesforce_sink import SalesforcePaymentSink
from bench.records import raw_records
from bench.result import BenchResult, Metric
from bench.worker_rig import Rig, Run
from stream.topology import flow_named

NAME = "worker_drain"
DEFAULT_RECORDS = 300
SAMPLE_SECONDS = 1.0
SINKS = {
    "salesforce": flow_named(SalesforcePaymentSink),
    "sagepro": flow_named(SageProPaymentSink),
}
NORMALIZER = flow_named(PaymentNormalizer)


@dataclass
class Progress:
    """When a flow finished its first record and its last, and how many were done first."""

    started: float = 0.0
    first: tuple[float, float] | None = None  # (time, done)
    last: float | None = None

    def see(self, now: float, done: float, total: int) -> None:
        if self.first is None and done > 0:
            self.first = (now, done)
        if self.last is None and done >= total:
            self.last = now

    def rate(self, total: int) -> float:
        if self.first is None or self.last is None:
            return float("nan")
        if self.last <= self.first[0]:  # all done within one sample: count from the start
            return total / (self.last - self.started) if self.last > self.started else float("nan")
        return (total - self.first[1]) / (self.last - self.first[0])


@dataclass
class Drain:
    records: int
    workers: int
    seconds_to_first: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    calls_per_thousand: dict[str, float] = field(default_factory=dict)
    cpu_us_per_payment: float = 0.0
    log_counts: dict[str, int] = field(default_factory=dict)


async def drain(run: Run, values: list[bytes], workers: int) -> Drain:
    rig = run.rig
    await run.preload(values)
    records = len(values)
    before = {
        "salesforce": await rig.salesforce_calls(),
        "sagepro": await rig.api_requests("sagepro"),
    }
    started = time.monotonic()
    for _ in range(workers):
        run.start_worker()
    progress = {flow: Progress(started) for flow in (NORMALIZER, *SINKS.values())}
    cpu_start: float | None = None
    deadline = started + 180 + records / 2
    while True:
        now = time.monotonic()
        for flow, seen in progress.items():
            seen.see(now, await run.done(flow), records)
        cpu = run.cpu_seconds()
        if cpu_start is None and progress[NORMALIZER].first is not None:
            cpu_start = cpu
        if all(progress[f].last is not None for f in SINKS.values()):
            break
        if now > deadline:
            raise TimeoutError(f"backlog of {records} not drained:\n{run.logs()}")
        await asyncio.sleep(SAMPLE_SECONDS)
    result = Drain(records, workers)
    result.calls_per_thousand = {
        "salesforce": (await rig.salesforce_calls() - before["salesforce"]) * 1000 / records,
        "sagepro": (await rig.api_requests("sagepro") - before["sagepro"]) * 1000 / records,
    }
    for system, flow in SINKS.items():
        seen = progress[flow]
        result.rates[system] = seen.rate(records)
        result.seconds_to_first[system] = seen.first[0] - started if seen.first else -1
    result.cpu_us_per_payment = (cpu - (cpu_start or cpu)) * 1e6 / records
    result.log_counts = run.log_counts()
    return result


async def run_worker_drain(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    two: list[Drain] = []
    one: list[Drain] = []
    async with Rig() as rig:
        for rep in range(repeats):
            order = (2, 1) if rep % 2 else (1, 2)
            for side, workers in enumerate(order):
                first_index = (2 * rep + side) * records + 1_000_000
                async with rig.run() as run:
                    result = await drain(
                        run, raw_records(records, first_index=first_index), workers
                    )
                (two if workers == 2 else one).append(result)
    metrics = []
    for system in SINKS:
        metrics.append(
            Metric.of_runs(
                f"{system}_rate",
                f"{system} payments/s",
                [d.rates[system] for d in two],
                [d.rates[system] for d in one],
            )
        )
    for system in SINKS:
        metrics.append(
            Metric.of_runs(
                f"{system}_calls",
                f"{system} API calls/1k payments",
                [d.calls_per_thousand[system] for d in two],
                [d.calls_per_thousand[system] for d in one],
                higher_is_better=False,
            )
        )
    metrics.append(
        Metric.of_runs(
            "cpu",
            "worker CPU us/payment, end to end",
            [d.cpu_us_per_payment for d in two],
            [d.cpu_us_per_payment for d in one],
            higher_is_better=False,
        )
    )
    return BenchResult(
        name=NAME,
        subject="2 paystream workers draining a preloaded raw backlog to both sinks",
        baseline="1 paystream worker, same backlog size",
        records=records,
        repeats=repeats,
        metrics=metrics,
        notes={
            "seconds_to_first_write_2_workers": [d.seconds_to_first for d in two],
            "seconds_to_first_write_1_worker": [d.seconds_to_first for d in one],
            # Each should be 0: a partition the watchdog had to read again, a record the
            # commit guard held back, a crash (bench/worker_rig.py's LOG_SIGNS).
            "worker_logs_2_workers": [d.log_counts for d in two],
            "worker_logs_1_worker": [d.log_counts for d in one],
        },
    )
