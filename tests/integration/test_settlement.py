"""Settlement reconciliation end to end: transactions flow, PayTrace settles its open batch, the
settlement poller publishes it and the reconciler writes Settlement__c and one journal entry,
once, whatever is polled again, restarted or redelivered; a Payment__c that went missing shows
as a mismatch; a batch that does not add up is dead-lettered and posts nothing. Real
`paystream worker` processes on the real broker, emulators over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.settlement import SettledTransaction, SettlementBatch
from stream.topics import read_all
from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_pipeline_e2e import delivered, make_transactions

pytestmark = pytest.mark.integration

FAST = {
    "PAYSTREAM_SETTLEMENT_POLL_INTERVAL_SECONDS": "1",
    "PAYSTREAM_SETTLEMENT_RECHECK_SECONDS": "1",
}
PAYMENT_UPSERTS = "/services/data/v62.0/composite"  # the payment sink's path, not the reconciler's


async def settlements(pipeline: Pipeline) -> list[dict[str, Any]]:
    body = await pipeline.control("salesforce", "records/Settlement__c")
    records: list[dict[str, Any]] = body["records"]
    return records


async def settlement(pipeline: Pipeline, batch_number: int) -> dict[str, Any] | None:
    found = [r for r in await settlements(pipeline) if r["BatchNumber__c"] == str(batch_number)]
    return found[0] if found else None


async def journal_entries(pipeline: Pipeline, reference: str) -> list[Any]:
    async with pipeline.sagepro() as sage:
        return await sage.list_journal_entries(reference=reference)


async def settle(pipeline: Pipeline) -> dict[str, Any]:
    batch: dict[str, Any] = await pipeline.control("paytrace", "settle", {})
    assert batch["batch_number"] is not None, "nothing to settle"
    return batch


async def worker_polled_settlements(pipeline: Pipeline, times: int) -> bool:
    async with httpx.AsyncClient() as http:
        try:
            text = (await http.get(pipeline.workers[-1].metrics_url, timeout=2.0)).text
        except httpx.HTTPError:
            return False
    for line in text.splitlines():
        if line.startswith('paystream_events_in_total{agent="settlement_poller"}'):
            return float(line.split()[-1]) >= times
    return False


async def test_a_settled_batch_is_reconciled_once(pipeline: Pipeline) -> None:
    pipeline.extra_env.update(FAST)
    # No refund: PayTrace refunds only settled sales, and this test's batch is the first one.
    expected = await make_transactions(pipeline, sales=5, refund=False)
    pipeline.start_worker()
    await wait_for(lambda: delivered(pipeline, expected), "payments delivered", 60)

    batch = await settle(pipeline)
    number, reference = batch["batch_number"], f"PAYTRACE-BATCH-{batch['batch_number']}"
    # 5 sales - the voided one: 4 sales settle.
    assert batch["transaction_count"] == 4

    async def reconciled() -> bool:
        record = await settlement(pipeline, number)
        return record is not None and record["Status__c"] == "Reconciled"

    await wait_for(reconciled, "Settlement__c reconciled", 40)
    record = await settlement(pipeline, number)
    assert record is not None
    net = Decimal(str(batch["net_amount"]))
    assert Decimal(str(record["NetAmount__c"])) == net
    assert Decimal(str(record["TransactionsTotal__c"])) == net
    assert (record["TransactionCount__c"], record["MatchedCount__c"]) == (4, 4)
    assert record["MismatchedCount__c"] == 0 and record["StatusReason__c"] is None
    assert record["JournalEntryReference__c"] == reference
    entries = await journal_entries(pipeline, reference)
    assert len(entries) == 1
    lines = {(x.gl_account_id, x.debit, x.credit) for x in entries[0].lines}
    assert lines == {("1000", net, Decimal("0")), ("1010", Decimal("0"), net)}

    # A restarted worker reads the settlement watermark and does not publish the batch again.
    pipeline.workers[0].stop()
    pipeline.start_worker()
    await wait_for(lambda: worker_polled_settlements(pipeline, 3), "new worker polled 3 times", 60)
    published = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("paytrace_settlements"), idle_ms=300
    )
    assert [key for key, _, _ in published] == [str(number).encode()]

    # Delivered again anyway (a crash before the watermark was written): nothing doubles.
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        key, value, _ = published[0]
        await producer.send_and_wait(pipeline.topic("paytrace_settlements"), key=key, value=value)
    finally:
        await producer.stop()

    async def seen_again() -> bool:
        again = await settlement(pipeline, number)
        return again is not None and again["ReconciledAt__c"] != record["ReconciledAt__c"]

    await wait_for(seen_again, "the redelivered batch reconciled again", 40)
    assert len(await journal_entries(pipeline, reference)) == 1
    assert len(await settlements(pipeline)) == 1
    assert not await pipeline.dead_letters()


async def test_a_payment_missing_in_salesforce_is_a_mismatch(pipeline: Pipeline) -> None:
    pipeline.extra_env.update(FAST)
    expected = await make_transactions(pipeline, sales=3, refund=False)
    pipeline.start_worker()
    await wait_for(lambda: delivered(pipeline, expected), "payments delivered", 60)

    # Delete one delivered Payment__c, and keep the payment sink from writing it back when
    # the settled state comes through (it holds its records through the "outage").
    sale = next(r for r in await pipeline.payment_records() if r["Status__c"] == "Completed")
    async with pipeline.salesforce() as sf:
        await sf.delete("Payment__c", sale["Id"])
    await pipeline.control(
        "salesforce",
        "faults",
        {"error_status": 503, "error_count": 100_000, "error_path_prefix": PAYMENT_UPSERTS},
    )
    try:
        batch = await settle(pipeline)
        number = batch["batch_number"]

        async def mismatch() -> bool:
            record = await settlement(pipeline, number)
            return record is not None and record["Status__c"] == "Mismatch"

        await wait_for(mismatch, "Settlement__c shows the mismatch", 40)
    finally:
        async with httpx.AsyncClient(base_url=pipeline.url("salesforce")) as http:
            (await http.delete("/_emulator/faults")).raise_for_status()
    record = await settlement(pipeline, number)
    assert record is not None
    assert record["MissingInSalesforce__c"] == 1 and record["MismatchedCount__c"] == 1
    assert record["MatchedCount__c"] == batch["transaction_count"] - 1
    assert f"{sale['PaymentID__c']}: not in salesforce" in record["StatusReason__c"]
    # The totals add up, so the money still moves to the bank: one journal entry.
    entries = await journal_entries(pipeline, f"PAYTRACE-BATCH-{number}")
    assert len(entries) == 1
    assert not await pipeline.dead_letters()  # a mismatch is reported, not dead-lettered
    metrics = pipeline.workers[0].metrics_url
    async with httpx.AsyncClient() as http:
        text = (await http.get(metrics)).text
    assert 'paystream_settlement_batches_total{outcome="mismatch"} 1.0' in text
    assert (
        'paystream_settlement_mismatched_transactions_total{kind="missing_in_salesforce"} 1.0'
        in text
    )


async def test_a_batch_whose_totals_do_not_add_up_is_dead_lettered_without_an_entry(
    pipeline: Pipeline,
) -> None:
    pipeline.extra_env.update(FAST)
    expected = await make_transactions(pipeline, sales=2, refund=False)
    pipeline.start_worker()
    await wait_for(lambda: delivered(pipeline, expected), "payments delivered", 60)
    sales = [r for r in await pipeline.payment_records() if r["Status__c"] == "Completed"]
    now = datetime.now(UTC)
    transactions = [
        SettledTransaction(
            transaction_id=r["PaymentID__c"],
            transaction_type="SALE",
            amount=Decimal(str(r["Amount__c"])),
            created_at=now,
        )
        for r in sales
    ]
    total = sum((t.amount for t in transactions), Decimal("0"))
    doctored = SettlementBatch(
        batch_number=990,
        settled_at=now,
        settled_on=now.date(),
        transaction_count=len(transactions),
        net_amount=total + Decimal("1.00"),  # a batch that does not add up
        sales_count=len(transactions),
        sales_amount=total + Decimal("1.00"),
        refund_count=0,
        refund_amount=Decimal("0"),
        transactions=transactions,
        fetched_at=now,
    )
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            pipeline.topic("paytrace_settlements"),
            key=doctored.key,
            value=doctored.model_dump_json().encode(),
        )
    finally:
        await producer.stop()

    async def dead_lettered() -> bool:
        return len(await pipeline.dead_letters()) == 1

    await wait_for(dead_lettered, "the batch dead-lettered", 40)
    (key, _, headers), *_ = await pipeline.dead_letters()
    assert key == b"990"
    assert headers["paystream-reason"] == b"settlement_totals_differ"
    assert headers["paystream-agent"] == b"settlement_reconciler"
    record = await settlement(pipeline, 990)
    assert record is not None and record["Status__c"] == "Totals Differ"
    assert record["JournalEntryReference__c"] is None
    assert f"batch net amount is {total + Decimal('1.00')}" in record["StatusReason__c"]
    assert await journal_entries(pipeline, "PAYTRACE-BATCH-990") == []
