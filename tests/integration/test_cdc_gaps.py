"""Gap and overflow change events, on the real broker with CDC over real gRPC: a deal closed
where Salesforce could only send a gap event (``GAP_UPDATE``: ids, no fields) or an overflow
event (``GAP_OVERFLOW``: not even ids) is re-queried and charged exactly once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_cdc_source import cdc_changes, command_keys, paid
from tests.integration.test_collection_e2e import (
    open_opportunity,
    paytrace_sales,
    setup_account,
)

pytestmark = pytest.mark.integration


async def gap_event(pipeline: Pipeline, change_type: str, record: str) -> None:
    """Closes the deal behind the API's back and sends only the gap (or overflow) event."""
    await pipeline.control(
        "salesforce",
        "gap_event",
        {
            "entity": "Opportunity",
            "change_type": change_type,
            "record_ids": [record],
            "set": {"StageName": "Closed Won"},
        },
    )


async def test_gap_and_overflow_events_charge_the_closed_won_deal_once(
    pipeline: Pipeline,
) -> None:
    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    worker = pipeline.start_worker()
    account = await setup_account(pipeline, "VAULT-GAP-EVENT")
    gapped = await open_opportunity(pipeline, account, "321.00")
    overflowed = await open_opportunity(pipeline, account, "654.00")

    async def opened() -> bool:
        seen = {tuple(c.record_ids) for c in await cdc_changes(pipeline)}
        return {(gapped,), (overflowed,)} <= seen

    await wait_for(opened, "both deals' CREATE events published", 60)
    await gap_event(pipeline, "GAP_UPDATE", gapped)
    await wait_for(lambda: paid(pipeline, "Opportunity", gapped), "the gap's deal Paid", 60)
    await gap_event(pipeline, "GAP_OVERFLOW", overflowed)
    await wait_for(
        lambda: paid(pipeline, "Opportunity", overflowed), "the overflow's deal Paid", 60
    )

    changes = await cdc_changes(pipeline)
    gaps = [c for c in changes if c.change_type.startswith("GAP_")]
    assert [(c.change_type, c.record_ids) for c in gaps] == [
        ("GAP_UPDATE", [gapped]),
        ("GAP_OVERFLOW", []),
    ]
    requeried = {
        c.record_ids[0]: c.values.get("StageName") for c in changes if c.change_type == "RESYNC"
    }
    assert requeried[gapped] == "Closed Won" and requeried[overflowed] == "Closed Won"
    log_text = worker.log_path.read_text()
    assert "GAP_UPDATE" in log_text and "GAP_OVERFLOW" in log_text

    await asyncio.sleep(4)  # room for a second charge, were there one
    for record, amount in ((gapped, "321.00"), (overflowed, "654.00")):
        sales = await paytrace_sales(pipeline, record)
        assert len(sales) == 1 and sales[0].amount == Decimal(amount)
    # The overflow re-query also finds the first deal again: same key, charged once.
    assert set(await command_keys(pipeline)) == {
        f"Opportunity:{gapped}:closed_won",
        f"Opportunity:{overflowed}:closed_won",
    }
    assert not await pipeline.dead_letters()
