"""A worker stopped gracefully (SIGTERM) while a flow is in the middle of an external call.

Faust stops an app's own services before its agents, so a flow's clients could be closed under
a record it is still writing; that record must never be settled as failed (dead-lettered, then
committed as done). Its batch stays uncommitted and the successor finishes it, once. Real
broker, real `paystream worker` processes, emulators over HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_collection_e2e import close_won, open_opportunity
from tests.integration.test_collection_exactly_once import (
    LedgerTail,
    assert_settled_once,
    following,
    paid,
    pending_since,
    warmed_up,
)

pytestmark = pytest.mark.integration

CALL_LATENCY_MS = 3000  # every PayTrace call takes this long while the stop is staged


async def test_sigterm_during_a_charge_call_loses_and_repeats_nothing(pipeline: Pipeline) -> None:
    first, account, warm_up = await warmed_up(pipeline, "VAULT-TERM", "12.00")

    target = await open_opportunity(pipeline, account, "222.00")
    async with following(LedgerTail(pipeline)) as ledger:
        await pipeline.control("paytrace", "faults", {"latency_ms": CALL_LATENCY_MS})
        await close_won(pipeline, target)
        pending_at = await pending_since(ledger, target)
        # After PENDING the agent asks PayTrace's export first: that call is in flight now.
        await asyncio.sleep(max(0.0, pending_at + 0.3 * CALL_LATENCY_MS / 1000 - time.monotonic()))
        exit_code = await asyncio.to_thread(first.stop)
    assert exit_code == 0, f"the worker did not stop by itself: exit code {exit_code}"
    await pipeline.control("paytrace", "faults", {"latency_ms": 0})

    pipeline.start_worker()
    await wait_for(lambda: paid(pipeline, target), "the Opportunity marked Paid after restart", 90)
    await assert_settled_once(pipeline, target, "222.00")
    await assert_settled_once(pipeline, warm_up, "12.00")
    assert not await pipeline.dead_letters()
