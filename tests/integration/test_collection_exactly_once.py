"""Salesforce-triggered collection charges once per business event, whatever Kafka and the
worker do: a CDC event delivered three times, and a worker SIGKILLed while PayTrace is
approving the sale. Real broker, real `paystream worker` processes, emulators over HTTP/gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.collection import ChargeCommand, SalesforceChange
from stream.kafka import aiokafka_options
from stream.supervise import WorkerProcess
from stream.topics import read_all
from tests.integration.harness import Pipeline, wait_for
from tests.integration.kafka_groups import evict_group_members
from tests.integration.test_collection_e2e import (
    close_won,
    field_is,
    open_opportunity,
    paytrace_sales,
    setup_account,
)

pytestmark = pytest.mark.integration

SALE_LATENCY_MS = 4000  # every PayTrace call takes this long while the crash is staged


async def cdc_changes(pipeline: Pipeline) -> list[tuple[bytes | None, bytes, SalesforceChange]]:
    records = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("salesforce_cdc"), idle_ms=300
    )
    return [
        (key, value, SalesforceChange.model_validate_json(value))
        for key, value, _ in records
        if value is not None
    ]


async def commands_for(pipeline: Pipeline, key: str) -> list[ChargeCommand]:
    records = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("charge_commands"), idle_ms=300
    )
    commands = [ChargeCommand.model_validate_json(v) for _, v, _ in records if v is not None]
    return [c for c in commands if c.key == key]


async def produce(pipeline: Pipeline, topic: str, key: bytes | None, value: bytes) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(pipeline.kafka, pipeline.bootstrap))
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def charges_metric(worker: WorkerProcess, outcome: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(worker.metrics_url, timeout=5)).text
    found = re.search(rf'^paystream_charges_total\{{outcome="{outcome}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def paid(pipeline: Pipeline, opportunity: str) -> bool:
    return await field_is(pipeline, "Opportunity", opportunity, "PaymentStatus__c", "Paid")


async def assert_settled_once(pipeline: Pipeline, opportunity: str, amount: str) -> int:
    """One sale in PayTrace, on the Opportunity, in Payment__c and in Sage Pro: its id."""
    sales = await paytrace_sales(pipeline, opportunity)
    assert len(sales) == 1, f"PayTrace holds {len(sales)} sales for {opportunity}"
    sale = sales[0]
    assert sale.amount == Decimal(amount)
    transaction = str(sale.transaction_id)
    async with pipeline.salesforce() as salesforce:
        record = await salesforce.get("Opportunity", opportunity)
    assert record is not None
    assert record["PaymentStatus__c"] == "Paid"
    assert record["PaymentTransactionID__c"] == transaction

    async def flowed_through() -> bool:
        records = await pipeline.payment_records()
        async with pipeline.sagepro() as sage:
            payments = await sage.list_payments(invoice_id=opportunity)
        return any(r.get("PaymentID__c") == transaction for r in records) and bool(payments)

    await wait_for(flowed_through, "the sale in Payment__c and Sage Pro", 60)
    await asyncio.sleep(2)  # room for a second copy to arrive, were there one
    records = [
        r for r in await pipeline.payment_records() if r.get("Opportunity__c") == opportunity
    ]
    assert [r["PaymentID__c"] for r in records] == [transaction]
    async with pipeline.sagepro() as sage:
        payments = await sage.list_payments(invoice_id=opportunity)
        invoice = await sage.get_invoice(opportunity)
    assert [p.payment_reference for p in payments] == [transaction]
    assert invoice is not None and invoice.balance_due == 0 and str(invoice.status) == "Paid"
    return int(transaction)


async def test_same_cdc_event_delivered_three_times_charges_once(pipeline: Pipeline) -> None:
    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    worker = pipeline.start_worker()
    account = await setup_account(pipeline, "VAULT-DUP")
    opportunity = await open_opportunity(pipeline, account, "125.00")
    await close_won(pipeline, opportunity)

    # Delivery 1 is the worker's own subscription; 2 and 3 are the identical record again.
    closing: list[tuple[bytes | None, bytes]] = []

    async def published() -> bool:
        closing[:] = [
            (key, value)
            for key, value, change in await cdc_changes(pipeline)
            if change.record_ids == [opportunity] and "StageName" in change.changed_fields
        ]
        return bool(closing)

    await wait_for(published, "the Closed Won change on the CDC topic", 60)
    key, value = closing[0]
    for _ in range(2):
        await produce(pipeline, pipeline.topic("salesforce_cdc"), key, value)
    deliveries = [c for k, v, c in await cdc_changes(pipeline) if (k, v) == (key, value)]
    assert len(deliveries) == 3

    command_key = f"Opportunity:{opportunity}:closed_won"

    async def three_commands_two_duplicates() -> bool:
        return (
            len(await commands_for(pipeline, command_key)) == 3
            and await charges_metric(worker, "duplicate") >= 2
        )

    await wait_for(lambda: paid(pipeline, opportunity), "the Opportunity marked Paid", 60)
    await wait_for(three_commands_two_duplicates, "three commands, two seen as duplicates", 120)
    assert await charges_metric(worker, "charged") == 1
    assert await charges_metric(worker, "duplicate") == 2
    await assert_settled_once(pipeline, opportunity, "125.00")
    assert not await pipeline.dead_letters()


@dataclass
class LedgerTail:
    """Follows the charge ledger's changelog: (when seen, key, raw value) per write."""

    pipeline: Pipeline
    writes: list[tuple[float, str, bytes]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return f"{self.pipeline.name}-charge-ledger-changelog"

    def last_state(self, record_id: str) -> str | None:
        for _, key, value in reversed(self.writes):
            if record_id in key:
                found = re.search(rb'state\\?"\s*:\s*\\?"([A-Z_]+)', value)
                return found.group(1).decode() if found else None
        return None

    def first_seen(self, record_id: str, state: str) -> float | None:
        for seen, key, value in self.writes:
            if record_id in key and state.encode() in value:
                return seen
        return None

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            **aiokafka_options(self.pipeline.kafka, self.pipeline.bootstrap),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=100)
                for messages in batch.values():
                    for message in messages:
                        key = (message.key or b"").decode(errors="replace")
                        self.writes.append((time.monotonic(), key, message.value or b""))
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def following(tail: LedgerTail) -> AsyncIterator[LedgerTail]:
    task = asyncio.create_task(tail.run())
    try:
        yield tail
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def warmed_up(pipeline: Pipeline, vault: str, amount: str) -> tuple[WorkerProcess, str, str]:
    """A worker that made a first charge, its Account and that deal. The warm-up (assignment,
    PayTrace token) means that, once every PayTrace call is slowed down, a target's only calls
    are its export look-up, then the sale."""
    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    worker = pipeline.start_worker()
    account = await setup_account(pipeline, vault)
    warm_up = await open_opportunity(pipeline, account, amount)
    await close_won(pipeline, warm_up)
    await wait_for(lambda: paid(pipeline, warm_up), "the warm-up charge", 60)
    return worker, account, warm_up


async def pending_since(ledger: LedgerTail, record_id: str) -> float:
    """When the ledger first showed the record's key PENDING (waiting for it)."""

    async def pending() -> bool:
        return ledger.first_seen(record_id, "PENDING") is not None

    await wait_for(pending, "the target PENDING in the ledger", 120, every=0.05)
    pending_at = ledger.first_seen(record_id, "PENDING")
    assert pending_at is not None
    return pending_at


async def test_worker_killed_between_approved_sale_and_ledger_commit(pipeline: Pipeline) -> None:
    first, account, warm_up = await warmed_up(pipeline, "VAULT-CRASH", "10.00")

    target = await open_opportunity(pipeline, account, "321.00")
    async with following(LedgerTail(pipeline)) as ledger:
        await pipeline.control("paytrace", "faults", {"latency_ms": SALE_LATENCY_MS})
        await close_won(pipeline, target)
        pending_at = await pending_since(ledger, target)
        # PENDING -> export look-up (one latency) -> the sale, in flight for the next one.
        await asyncio.sleep(max(0.0, pending_at + 1.5 * SALE_LATENCY_MS / 1000 - time.monotonic()))
        # Frozen, not killed yet: its connection stays open, so PayTrace reads the request and
        # approves the sale (a closed connection would fail the body read before the handler).
        assert first.pid is not None
        os.kill(first.pid, signal.SIGSTOP)
        await pipeline.control("paytrace", "faults", {"latency_ms": 0})

        async def sale_made() -> bool:
            return len(await paytrace_sales(pipeline, target)) == 1

        await wait_for(sale_made, "PayTrace approving the in-flight sale", 120)
        first.kill()  # the approval sits unread in the dead worker's socket
        await asyncio.sleep(0.5)  # the tail catches up with anything written before
        state_at_kill = ledger.last_state(target)
    assert state_at_kill == "PENDING", f"the ledger said {state_at_kill} at the kill"
    assert not await field_is(pipeline, "Opportunity", target, "PaymentStatus__c", "Paid")

    await evict_group_members(pipeline.bootstrap, pipeline.name)
    second = pipeline.start_worker()
    await wait_for(lambda: paid(pipeline, target), "the Opportunity marked Paid after restart", 60)
    sale_id = await assert_settled_once(pipeline, target, "321.00")
    # The successor found the sale through the export instead of charging again.
    assert f"Opportunity:{target}:closed_won already charged in PayTrace ({sale_id})" in (
        second.log_path.read_text()
    )
    await assert_settled_once(pipeline, warm_up, "10.00")
    assert not await pipeline.dead_letters()
