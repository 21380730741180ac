"""Lanes: a slowed Sage Pro does not slow Salesforce. One `paystream worker --lanes core` and one
`--lanes sagepro` (PAYSTREAM_WORKER_LANES), each its own consumer group, on the real broker and
emulators. Sage Pro answers every call 10x slower (~100 ms a call on a real install, 1 s here):
every payment reaches Salesforce while most are not yet in Sage Pro, and once Sage Pro is fast
again it catches up with every payment exactly once.

Without lanes Salesforce waits for Sage Pro once the Sage Pro sink's Faust buffer is under
pressure: Faust then pauses the payments partitions for every agent of the worker, and when the
buffer is full the whole consumer, normalizer included. With Faust's buffer (4,096) that takes
thousands of payments; here the buffer is 32 and sink batches are 20, so the same stall comes
within the test's 150 payments (a single all-lanes worker under these settings left Salesforce
waiting on Sage Pro; see the README, "Lanes")."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from stream.settings import WorkerSettings
from stream.supervise import WorkerProcess
from stream.topics import delete_topics
from stream.topology import topic_specs
from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_pipeline_e2e import VISA

pytestmark = pytest.mark.integration

SALES = 150
SLOW_SAGEPRO_MS = 1000  # ~100 ms a call, tenfold
# A small Faust buffer and sink batch: an agent is "far behind" within the test's payments.
TIGHT = {"PAYSTREAM_STREAM_BUFFER_MAXSIZE": "32", "PAYSTREAM_SINK_BATCH_SIZE": "20"}


async def _sell(pipeline: Pipeline, count: int) -> set[str]:
    ids = set()
    async with pipeline.paytrace() as paytrace:
        for index in range(count):
            sale = await paytrace.sale_keyed(Decimal("30.00") + index % 50, VISA, 12, 2030)
            assert sale.approved and sale.transaction_id
            ids.add(str(sale.transaction_id))
    return ids


async def _salesforce_ids(pipeline: Pipeline) -> list[str]:
    return [record["PaymentID__c"] for record in await pipeline.payment_records()]


async def _sagepro_state(pipeline: Pipeline) -> dict[str, Any]:
    # The emulator's control route: no fault latency, so reading it does not wait on Sage Pro.
    state: dict[str, Any] = await pipeline.control("sagepro", "state")
    return state


async def _sagepro_refs(pipeline: Pipeline) -> list[str]:
    return [p["PaymentReference"] for p in (await _sagepro_state(pipeline))["payments"]]


async def _healthy(worker: WorkerProcess) -> bool:
    async with httpx.AsyncClient() as http:
        try:
            return (await http.get(worker.health_url, timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False


async def test_a_slowed_sage_pro_does_not_slow_salesforce(pipeline: Pipeline) -> None:
    await pipeline.control("sagepro", "faults", {"latency_ms": SLOW_SAGEPRO_MS})
    core = pipeline.start_worker({**TIGHT, "PAYSTREAM_WORKER_LANES": "core"})
    sage = pipeline.start_worker({**TIGHT, "PAYSTREAM_WORKER_LANES": "sagepro"})
    try:
        # Both consuming, each in its own group, before the first payment exists.
        for worker in (core, sage):
            await wait_for(lambda w=worker: _healthy(w), "worker in its group", 60)
        ids = await _sell(pipeline, SALES)
        started = time.monotonic()

        async def all_in_salesforce() -> bool:
            return set(await _salesforce_ids(pipeline)) >= ids

        await wait_for(all_in_salesforce, "every payment in Salesforce", 60)
        in_salesforce_after = time.monotonic() - started
        sage_written = len(set(await _sagepro_refs(pipeline)) & ids)
        print(
            f"\nSalesforce: {SALES} of {SALES} payments {in_salesforce_after:.1f} s after the "
            f"last sale; Sage Pro (slowed to {SLOW_SAGEPRO_MS} ms a call) then had {sage_written}"
        )
        assert sage_written <= SALES // 2, f"Sage Pro was not held back: {sage_written}"
        assert core.running() and sage.running()

        async def sagepro_moving() -> bool:  # slowed, not stopped: its lane goes at its pace
            return bool(set(await _sagepro_refs(pipeline)) & ids)

        await wait_for(sagepro_moving, "a first payment in the slowed Sage Pro", 60)
        slow_written = len(set(await _sagepro_refs(pipeline)) & ids)
        print(f"Sage Pro, still slowed: {slow_written} after {time.monotonic() - started:.1f} s")

        await pipeline.control("sagepro", "faults", {"latency_ms": 0})

        async def all_in_sagepro() -> bool:
            return set(await _sagepro_refs(pipeline)) >= ids

        await wait_for(all_in_sagepro, "Sage Pro caught up", 90)
        print(f"Sage Pro: all {SALES} payments {time.monotonic() - started:.1f} s after the sale")
        state = await _sagepro_state(pipeline)
        refs = [p["PaymentReference"] for p in state["payments"]]
        entries = [entry["Reference"] for entry in state["journal_entries"]]
        assert sorted(refs) == sorted(ids), "a Sage Pro payment is missing or posted twice"
        assert len(entries) == len(set(entries)), "a journal entry was posted twice"
        salesforce = await _salesforce_ids(pipeline)
        assert sorted(salesforce) == sorted(ids), "a Payment__c is missing or written twice"
        assert not await pipeline.dead_letters()
    finally:
        for worker in pipeline.workers:
            worker.stop()
        lane_topics = {
            spec.name
            for lane in ("core", "sagepro")
            for spec in topic_specs(
                pipeline.kafka, WorkerSettings(app_id=pipeline.name, worker_lanes=(lane,))
            )
            if spec.name.startswith(f"{pipeline.name}-lane-")
        }
        try:  # best effort, as the harness does; kept to read them after a failure
            if not os.environ.get("PAYSTREAM_TEST_KEEP_TOPICS"):
                await delete_topics(pipeline.kafka, pipeline.bootstrap, lane_topics)
        except Exception:  # the broker's data dir is per test session
            pass
