"""``worker_risk_cost``: the CPU risk scoring adds per payment in a real `paystream worker`.

Issue 12's target, "scoring adds at most 20 % CPU per payment", is about what scoring adds to
what a payment already costs. Here one `paystream worker` process drains a preloaded raw
backlog END TO END with the emulators answering: the normalizer, both payment sinks writing
to Salesforce and Sage Pro, and, on the subject side, the risk keyer, scorer and action sink
(its Salesforce writes included). Subject: the worker with `PAYSTREAM_RISK_SCORING=true` (the
default); baseline: the same worker with it `false` (stream/topology.py leaves the three risk
flows out). Both sides drain the same records: the Salesforce and Sage Pro emulators are reset
before each side, so each does the same inserts. Sides alternate every repetition.

The figure is the worker's CPU (``/proc/<pid>/stat``, all threads) from the normalizer's
first finished record until every flow of the side has finished its last record (on the
subject side: the payment sinks, the keyer, the scorer and the action sink), over the
backlog's payments; ``(on - off) / off`` is the CPU scoring adds per payment. Progress comes
from the worker's own flow counters, one ``/metrics`` read per sample on both sides.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from agents.normalizer import PaymentNormalizer
from agents.risk_actions import RiskActionSink
from agents.risk_scorer import PaymentRiskScorer, RiskKeyer
from agents.sagepro_sink import SageProPaymentSink
from agents.salesforce_sink import SalesforcePaymentSink
from bench import procstat
from bench.records import raw_records
from bench.result import BenchResult, Metric
from bench.worker_rig import DONE_COUNTERS, Rig, Run
from stream.topology import flow_named

NAME = "worker_risk_cost"
DEFAULT_RECORDS = 3_000
SAMPLE_SECONDS = 0.5
FIRST_INDEX = 3_000_000  # transaction ids no other benchmark uses
NORMALIZER = flow_named(PaymentNormalizer)
SINKS = (flow_named(SalesforcePaymentSink), flow_named(SageProPaymentSink))
KEYER = flow_named(RiskKeyer)
SCORER = flow_named(PaymentRiskScorer)
ACTIONS = flow_named(RiskActionSink)
RESET = ("salesforce", "sagepro")


@dataclass
class Side:
    scoring: bool
    records: int
    cpu_seconds: float = 0.0
    seconds: float = 0.0
    seconds_to_first: float = 0.0
    salesforce_calls: int = 0
    sagepro_calls: int = 0
    done: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_us_per_payment(self) -> float:
        return self.cpu_seconds * 1e6 / self.records

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")


async def counters(run: Run) -> tuple[dict[str, float], float]:
    """Per flow, records finished (delivered, dead-lettered or ignored), and the records the
    keyer sent on: one ``/metrics`` read per worker."""
    done: dict[str, float] = {}
    keyed = 0.0
    flows = (NORMALIZER, *SINKS, KEYER, SCORER, ACTIONS)
    for worker in run.workers:
        if not worker.running():
            raise RuntimeError(f"worker exited: {worker.log_tail(30)}")
        text = (await run.rig.http.get(worker.metrics_url, timeout=10)).text
        for flow in flows:
            labels = {"agent": flow}
            done[flow] = done.get(flow, 0.0) + sum(
                procstat.counter_total(text, c, labels) for c in DONE_COUNTERS
            )
        keyed += procstat.counter_total(text, "paystream_events_out", {"agent": KEYER})
    return done, keyed


async def finished(run: Run, side: Side, done: dict[str, float], keyed: float) -> bool:
    if any(done[flow] < side.records for flow in SINKS):
        return False
    if not side.scoring:
        return True
    if done[KEYER] < side.records or done[SCORER] < keyed:
        return False
    # The scorer may publish more scores than it read (a burst scores earlier attempts again).
    return done[ACTIONS] >= await run.end_offsets("payments_risk")


async def drain(rig: Rig, values: list[bytes], scoring: bool) -> Side:
    side = Side(scoring, len(values))
    for system in RESET:  # the same records make the same inserts on both sides
        await rig.control(system, "reset", {})
    async with rig.run(PAYSTREAM_RISK_SCORING=str(scoring).lower()) as run:
        await run.preload(values)
        calls = (await rig.salesforce_calls(), await rig.api_requests("sagepro"))
        started = time.monotonic()
        run.start_worker()
        first: tuple[float, float] | None = None  # (time, cpu) at the first finished record
        deadline = started + 180 + side.records / 2
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            now = time.monotonic()
            try:
                done, keyed = await counters(run)
            except httpx.HTTPError:
                continue  # /metrics not served yet
            cpu = run.cpu_seconds()
            if first is None and done[NORMALIZER] > 0:
                first = (now, cpu)
                side.seconds_to_first = now - started
            if first is not None and await finished(run, side, done, keyed):
                break
            if now > deadline:
                raise TimeoutError(f"{side} not drained:\n{run.logs()}")
        assert first is not None
        side.seconds, side.cpu_seconds, side.done = now - first[0], cpu - first[1], done
        side.salesforce_calls = await rig.salesforce_calls() - calls[0]
        side.sagepro_calls = await rig.api_requests("sagepro") - calls[1]
    return side


async def run_worker_risk_cost(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    on: list[Side] = []
    off: list[Side] = []
    values = raw_records(records, first_index=FIRST_INDEX)
    async with Rig() as rig:
        for rep in range(repeats):
            for scoring in (False, True) if rep % 2 else (True, False):
                (on if scoring else off).append(await drain(rig, values, scoring))
    per_thousand = 1000 / records
    metrics = [
        Metric.of_sides(
            "cpu",
            "worker CPU us/payment, end to end",
            on,
            off,
            lambda s: s.cpu_us_per_payment,
            higher_is_better=False,
        ),
        Metric.of_sides("throughput", "payments/s, first to last", on, off, lambda s: s.rate),
        Metric.of_sides(
            "salesforce_calls",
            "Salesforce API calls/1k payments",
            on,
            off,
            lambda s: s.salesforce_calls * per_thousand,
            higher_is_better=False,
        ),
        Metric.of_sides(
            "sagepro_calls",
            "Sage Pro API calls/1k payments",
            on,
            off,
            lambda s: s.sagepro_calls * per_thousand,
            higher_is_better=False,
        ),
    ]
    cpu = metrics[0]
    return BenchResult(
        name=NAME,
        subject="paystream worker draining a raw backlog end to end, risk scoring on",
        baseline="the same worker and records, PAYSTREAM_RISK_SCORING=false",
        records=records,
        repeats=repeats,
        metrics=metrics,
        notes={
            "cpu_added_per_payment_by_scoring": cpu.ratio - 1,
            "cpu_added_per_repetition": [r - 1 for r in cpu.ratio_runs],
            "target_added_at_most": 0.20,
            "seconds_to_first_normalized_on": [s.seconds_to_first for s in on],
            "seconds_to_first_normalized_off": [s.seconds_to_first for s in off],
            "flows_done_on": [s.done for s in on],
            "flows_done_off": [s.done for s in off],
        },
    )
