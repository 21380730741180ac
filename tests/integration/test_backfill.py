"""``paystream backfill`` on the real broker with a running worker and the emulators: a
backfill over the same day as live traffic creates nothing twice, and the Bulk API 2.0 job's
failing rows are dead-lettered, exactly those."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from schemas.deadletter import DeadLetter
from stream.backfill import AGENT, Backfill
from stream.backfill_plan import BackfillSettings
from stream.mapping import load_mapping
from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_pipeline_e2e import VISA, sagepro_references

pytestmark = pytest.mark.integration
NO_SUCH_OPPORTUNITY = "006000000000001"  # well-formed, names no record: Salesforce refuses it


async def sales(pipeline: Pipeline, count: int, invoice_id: str = "") -> list[str]:
    ids = []
    async with pipeline.paytrace() as paytrace:
        for index in range(count):
            amount = Decimal("30.00") + index
            result = await paytrace.sale_keyed(amount, VISA, 12, 2030, invoice_id=invoice_id)
            assert result.approved
            ids.append(str(result.transaction_id))
    return ids


async def test_backfill_over_live_traffic_creates_nothing_twice_and_dead_letters_failed_rows(
    pipeline: Pipeline,
) -> None:
    good = await sales(pipeline, 8)
    bad = await sales(pipeline, 2, invoice_id=NO_SUCH_OPPORTUNITY)
    pipeline.start_worker()  # live traffic: the poller picks the same sales up meanwhile
    async with httpx.AsyncClient(base_url=pipeline.url("paytrace")) as http:
        zone = (await http.post("/_emulator/clock", json={})).json()["timezone"]
    today = datetime.now(ZoneInfo(zone)).date()

    async with pipeline.paytrace() as paytrace:
        job = Backfill(
            pipeline.kafka,
            BackfillSettings(bulk_threshold=1),  # Bulk API 2.0 even for ten payments
            load_mapping(None),
            paytrace,
            pipeline.salesforce,
            zone,
        )
        report = await job.run(today, today, "all")
    assert report.payments == 10 and report.bulk
    assert report.bulk_failed == 2 and report.bulk_unprocessed == 0
    assert report.bulk_processed == 10 and report.published == 10  # Sage Pro's share
    assert report.salesforce_calls <= 10

    async def settled() -> bool:
        found = Counter(r["PaymentID__c"] for r in await pipeline.payment_records())
        references = Counter(await sagepro_references(pipeline))
        return set(found) == set(good) and set(good + bad) <= set(references)

    await wait_for(settled, "Payment__c and Sage Pro payments", 120)
    found = Counter(r["PaymentID__c"] for r in await pipeline.payment_records())
    assert all(n == 1 for n in found.values()), f"a Payment__c created twice: {found}"
    references = Counter(await sagepro_references(pipeline))
    assert all(n == 1 for n in references.values()), f"a Sage Pro payment twice: {references}"

    letters = [DeadLetter.model_validate_json(v) for _, v, _ in await pipeline.dead_letters() if v]
    from_bulk = [d for d in letters if d.error.startswith("Bulk API 2.0:")]
    assert sorted(d.key or "" for d in from_bulk) == sorted(bad)
    assert all(d.agent == AGENT for d in from_bulk)
    assert {d.reason for d in from_bulk} == {"salesforce:INVALID_CROSS_REFERENCE_KEY"}
